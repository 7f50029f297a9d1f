"""Render a corpus split (each clip's first frame as the photo, its own audio and emotion label) and a demo
(the astronaut speaking a TTS sentence): the `animate` stage. A clip that fails is skipped with its reason."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from spacex import media
from spacex.animate.pipeline import AnimateError, AnimateOptions, Animator
from spacex.config import Config
from spacex.corpus import clip as clipfmt


def render_split(cfg: Config, report_dir: str | Path | None = None, limit: int | None = None) -> dict:
    a = cfg.animate
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    animator = Animator.from_runs(a.runs, emotions=cfg.preprocess.emotions)
    rows = [r for r in clipfmt.read_manifest(cfg.corpus.root) if r["split"] == a.split][:limit]
    done, skipped, frames, seconds = [], [], 0, 0.0
    for row in rows:
        video = clipfmt.clip_paths(cfg.corpus.root, row["clip_id"])["video"]
        emotion = f"{row['emotion']}:{row['intensity']}" if row["emotion"] else "neutral:1.0"
        try:
            photo = next(media.iter_frames(video))[1]
            t0 = time.perf_counter()
            result = animator(photo, video, AnimateOptions(emotion=emotion, pose=a.pose, pose_seed=a.seed))
            seconds += time.perf_counter() - t0
        except (AnimateError, media.MediaError, StopIteration) as e:
            skipped.append((row["clip_id"], str(e)))
            continue
        result.save(out / f"{row['clip_id']}.mp4", intermediates=True)
        frames += len(result.frames)
        done.append(row["clip_id"])
    demo = _demo(animator, cfg, out)
    gaze = gaze_response(animator, next(media.iter_frames(clipfmt.clip_paths(cfg.corpus.root, rows[0]["clip_id"])
                                                          ["video"]))[1], out / "demo_speech.wav") if rows else None
    with open(out / "skipped.csv", "w", newline="") as f:
        csv.writer(f).writerows([("clip_id", "reason"), *skipped])
    summary = {"split": a.split, "rendered": len(done), "skipped": len(skipped), "frames": frames,
               "demo": str(demo), "gaze_response": gaze}
    if report_dir:
        rep = Path(report_dir)
        rep.mkdir(parents=True, exist_ok=True)
        (rep / "summary.json").write_text(json.dumps(summary, indent=1))
        (rep / "timing.json").write_text(json.dumps({"frames_per_s_end_to_end": round(frames / max(seconds, 1e-9), 1)}))
    return summary


def gaze_response(animator: Animator, photo, audio, step: float = 0.2) -> dict:
    """How far the rendered irises move when the gaze control asks for `step` eye widths left, then right.

    The photo is animated twice (fixed pose, no blinks) and the iris detector reads the gaze off the rendered
    frames, in the eye frames of the posed landmarks. `rendered_per_requested` is 1 when the video shows the
    requested shift exactly, 0 when the renderer ignores gaze."""
    from spacex import gaze

    seen = {}
    for name, x in (("left", -step), ("right", step)):
        r = animator(photo, audio, AnimateOptions(gaze=f"{x},0", pose="fixed", blink="off"))
        x0, y0, x1, y1 = r.box
        lms = (r.posed_landmarks[..., :2] - [x0, y0]) * (r.frames.shape[2] / (x1 - x0))  # crop pixels
        found = gaze.detect(r.frames, lms)
        seen[name] = (found.gaze[found.valid, 0].mean() if found.valid.any() else float("nan"), r.keypoints)
    shift = seen["right"][0] - seen["left"][0]
    return {"requested_shift": 2 * step, "rendered_shift": round(float(shift), 4),
            "rendered_per_requested": round(float(shift / (2 * step)), 3),
            "keypoint_shift": round(float(abs(seen["right"][1] - seen["left"][1]).mean()), 5)}


def _demo(animator: Animator, cfg: Config, out: Path) -> Path:
    from skimage import data

    from spacex.corpus.synth.speech import prosody_for, synthesize

    u = synthesize(cfg.animate.demo_text, "en-us+f3", prosody_for("happy", 0.5))
    wav = media.write_wav(out / "demo_speech.wav", u.audio, u.sample_rate)
    result = animator(data.astronaut(), wav, AnimateOptions(emotion="happy:0.5", pose=cfg.animate.pose,
                                                            pose_seed=cfg.animate.seed))
    video = result.save(out / "demo_astronaut.mp4", intermediates=True)
    result.save_side_by_side(video)  # demo_astronaut.panels.mp4: what each stage predicted
    return video
