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
    with open(out / "skipped.csv", "w", newline="") as f:
        csv.writer(f).writerows([("clip_id", "reason"), *skipped])
    summary = {"split": a.split, "rendered": len(done), "skipped": len(skipped), "frames": frames,
               "demo": str(demo)}
    if report_dir:
        rep = Path(report_dir)
        rep.mkdir(parents=True, exist_ok=True)
        (rep / "summary.json").write_text(json.dumps(summary, indent=1))
        (rep / "timing.json").write_text(json.dumps({"frames_per_s_end_to_end": round(frames / max(seconds, 1e-9), 1)}))
    return summary


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
