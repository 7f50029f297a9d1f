"""Render a corpus split (each clip's first frame as the photo, its own audio and emotion label) and a demo
(the astronaut speaking a TTS sentence): the `animate` stage. A clip that fails is skipped with its reason."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from spacex import devices, files, media
from spacex.animate.pipeline import AnimateOptions, Animator
from spacex.config import Config
from spacex.corpus import clip as clipfmt
from spacex.errors import KitError
from spacex.preprocess import emotion as emo


def render_split(cfg: Config, report_dir: str | Path | None = None, limit: int | None = None) -> dict:
    a = cfg.animate
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    animator = Animator.from_runs(a.runs, emotions=cfg.preprocess.emotions, device=devices.resolve(a.device),
                                  precision=a.precision, render_batch=a.render_batch)
    corpus = clipfmt.read_corpora(cfg.corpus.roots())
    rows = [r for r in corpus if r["split"] == a.split][:limit]
    done, skipped, frames, seconds = [], [], 0, 0.0
    for row in rows:
        video = clipfmt.clip_paths(row["corpus"], row["clip_id"])["video"]
        emotion = clip_emotion(row)
        try:
            photo = first_frame(video)
            t0 = time.perf_counter()
            result = animator(photo, video, AnimateOptions(emotion=emotion, pose=a.pose, pose_seed=a.seed))
            seconds += time.perf_counter() - t0
        except (KitError, OSError, StopIteration) as e:  # skip the clip, record why, go on
            skipped.append((row["clip_id"], str(e) or type(e).__name__))
            continue
        result.save(out / f"{row['clip_id']}.mp4", intermediates=True)
        frames += len(result.frames)
        done.append(row["clip_id"])
    demo = _demo(animator, cfg, out)
    kept = {done[0]: None} if done else {}  # the first clip's re-enactment, for the gaze ceiling below
    control_skipped = render_reenactments(animator, cfg, {r["clip_id"]: r["corpus"] for r in rows}, out / "renderer",
                                          kept)
    gaze = {"skipped": "no clip was rendered"}
    if done:  # how far gaze reaches the pixels: through the whole pipeline, and through face-vid2vid alone
        video = clipfmt.clip_paths(rows[[r["clip_id"] for r in rows].index(done[0])]["corpus"], done[0])["video"]
        speech, sr = media.read_audio(out / "demo_speech.wav", 16_000)
        short = media.write_wav(out / "gaze_speech.wav", speech[: 2 * sr], sr)  # 2 s: a mean over 60 frames
        try:
            gaze = {"control": gaze_response(animator, first_frame(video), short),
                    "reconstruction": reconstruction_gaze(animator, video, cfg.preprocess.out, done[0],
                                                          kept.get(done[0]))}
        except (KitError, OSError) as e:  # a measurement, not a reason to lose the renders
            gaze = {"skipped": str(e)}
    trained = {name for r in corpus if r["split"] == "train"
               for name in emo.parse(r["emotion"], None)}  # labels as the store reads them (aliases mapped)
    # what the emotion control does to the landmarks, per rendered clip (no rendering)
    emotions = emotion_response(animator, [clipfmt.clip_paths(r["corpus"], r["clip_id"])["video"]
                                           for r in rows if r["clip_id"] in done], trained)
    with open(out / "skipped.csv", "w", newline="") as f:
        csv.writer(f).writerows([("clip_id", "reason"), *skipped])
    with open(out / "renderer" / "skipped.csv", "w", newline="") as f:
        csv.writer(f).writerows([("clip_id", "reason"), *control_skipped])
    summary = {"split": a.split, "rendered": len(done), "skipped": len(skipped),
               "renderer_control_skipped": len(control_skipped), "frames": frames,
               "demo": str(demo), "gaze_response": gaze, "emotion_response": emotions}
    if report_dir:
        rep = Path(report_dir)
        rep.mkdir(parents=True, exist_ok=True)
        files.write_metrics(rep / "summary.json", summary)  # numbers; split, demo, ... in summary.info.json
        (rep / "timing.json").write_text(json.dumps({"frames_per_s_end_to_end": round(frames / max(seconds, 1e-9), 1)}))
    return summary


def clip_emotion(row: dict) -> str:
    """The emotion control a corpus row asks for: its label at its intensity, or the neutral default."""
    return f"{row['emotion']}:{row['intensity']}" if row["emotion"] else AnimateOptions.emotion


def first_frame(video: str | Path):
    """The first frame (H, W, 3) uint8 of a video (the photo a corpus clip is animated from); the decoder is
    closed at once."""
    from contextlib import closing

    with closing(media.iter_frames(video)) as frames:
        return next(frames)[1]


def gaze_response(animator: Animator, photo, audio, step: float = 0.2) -> dict:
    """How far the rendered irises move when the gaze control asks for `step` eye widths left, then right.

    `keypoint_shift` is the mean absolute difference of the two runs' keypoints (crop units, ~[-1, 1]).

    The photo is animated twice (fixed pose, no blinks) and the iris detector reads the gaze off the rendered
    frames, in the eye frames of the posed landmarks. `rendered_per_requested` is 1 when the video shows the
    requested shift exactly, 0 when the renderer ignores gaze."""
    from spacex import gaze
    from spacex.crop import to_crop_pixels

    seen = {}
    for name, x in (("left", -step), ("right", step)):
        r = animator(photo, audio, AnimateOptions(gaze=f"{x},0", pose="fixed", blink="off"))
        found = gaze.detect(r.frames, to_crop_pixels(r.posed_landmarks, r.box, r.frames.shape[2]))
        if not found.valid.any():
            return {"requested_shift": 2 * step, "rendered_shift": None, "reason": "no iris seen in the renders"}
        seen[name] = (found.gaze[found.valid, 0].mean(), r.keypoints)
    shift = seen["right"][0] - seen["left"][0]
    return {"requested_shift": 2 * step, "rendered_shift": round(float(shift), 4),
            "rendered_per_requested": round(float(shift / (2 * step)), 3),
            "keypoint_shift": round(float(abs(seen["right"][1] - seen["left"][1]).mean()), 5)}


def emotion_response(animator: Animator, videos: list[str | Path], trained: set[str],
                     levels: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0), reference: str = "neutral:1.0") -> dict:
    """How far Speech2Landmarks moves the landmarks as each emotion's intensity rises, per clip.

    Each clip's first frame and speech go through Speech2Landmarks with `reference` (the corpus's neutral
    encoding) and with every emotion at every level; the displacement at a level is the mean distance over frames
    and the 68 points between that emotion's landmarks and the reference's (normalized units). Per clip and
    emotion, `rho` is Spearman's rank correlation of displacement with intensity (1: it grows at every step) and
    `monotonic` whether it grows at every step. Emotions no training clip carries (`untrained`) are listed, not
    measured: their FiLM slots never saw a gradient."""
    from scipy.stats import spearmanr

    measured = [e for e in animator.emotions if e in trained and e != reference.split(":")[0]]
    asked = [reference] + [f"{e}:{a}" for e in measured for a in levels]
    per = {e: {"rho": [], "monotonic": [], "displacement": []} for e in measured}
    skipped = []
    for video in videos:
        try:
            lms = animator.landmarks_for(first_frame(video), video, asked)  # (1 + E x L, T, 68, 3)
        except (KitError, OSError, StopIteration, ValueError) as e:  # skip the clip, record why, go on
            skipped.append([Path(video).stem, str(e) or type(e).__name__])
            continue
        d = np.linalg.norm(lms[1:] - lms[:1], axis=-1).mean(axis=(1, 2)).reshape(len(measured), len(levels))
        for e, row in zip(measured, d):
            rho = spearmanr(levels, row)[0] if np.ptp(row) > 0 else 0.0  # constant: no relation (rho undefined)
            per[e]["rho"].append(round(float(rho), 4))
            per[e]["monotonic"].append(bool(np.all(np.diff(row) > 0)))
            per[e]["displacement"].append([round(float(x), 6) for x in row])
    summary = {e: {"rho_mean": round(float(np.mean(v["rho"])), 4),
                   "monotonic_fraction": round(float(np.mean(v["monotonic"])), 4),
                   "displacement_at_full": round(float(np.mean([x[-1] for x in v["displacement"]])), 6)}
               for e, v in per.items() if v["rho"]}
    return {"levels": list(levels), "reference": reference, "clips": len(videos) - len(skipped),
            "per_emotion": summary, "per_clip": per, "skipped": skipped,
            "untrained": [e for e in animator.emotions if e not in trained]}


def own_keypoints(animator: Animator, video: str | Path, store_dir: str | Path, clip_id: str):
    """A clip's frames in the crop face-vid2vid was trained on and the keypoints it reads from them: -> (crops
    (T, 3, S, S) uint8, the source image (1, 3, S, S) = frame 0, its features, driving keypoints (T, K, 3), crop
    box)."""
    import torch

    from spacex.crop import crop_frames, to_float
    from spacex.preprocess import store

    box = store.read_clip(store_dir, clip_id)["crop_box"]  # the crop face-vid2vid was trained on
    frames, _ = media.read_frames(video)
    fv2v = animator.fv2v
    crops = crop_frames(frames, box, fv2v.args.resolution)  # (T, 3, S, S) uint8
    with torch.no_grad():
        x = to_float(crops).to(animator.device)
        src = fv2v.source_features(x[:1])
        return crops, x[:1], src, fv2v.keypoints_of(src["kp_canonical"], x), box


def reenact(animator: Animator, video: str | Path, store_dir: str | Path, clip_id: str):
    """face-vid2vid alone re-rendering a clip from the keypoints of its own frames (no S2L, L2L or PoseGen), in
    the crop it was trained on: -> (crops (T, 3, S, S) uint8, renders (T, S, S, 3) uint8, crop box)."""
    import torch

    crops, source, src, kps, box = own_keypoints(animator, video, store_dir, clip_id)
    with torch.no_grad():
        return crops, animator.render(source, src, kps), box


def render_reenactments(animator: Animator, cfg: Config, clips: dict[str, str], out: Path,
                        keep: dict | None = None) -> list[tuple[str, str]]:
    """The renderer control: every clip re-enacted by face-vid2vid from its own frames (`reenact`), written as
    `out/<clip>.mp4` with the clip's sound and an .npz holding the crop box, like the SPACEx renders, so the
    evaluate stage scores it under the same protocol (method `renderer`). `clips`: {clip id: its corpus folder};
    `keep`: {clip id: None} whose `reenact` results are filled in (not re-rendered by the next measurement).
    -> [(clip, reason)] skipped."""
    out.mkdir(parents=True, exist_ok=True)
    skipped = []
    for clip_id, root in clips.items():
        video = clipfmt.clip_paths(root, clip_id)["video"]
        try:
            crops, recon, box = reenact(animator, video, cfg.preprocess.out, clip_id)
            if keep is not None and clip_id in keep:
                keep[clip_id] = (crops, recon, box)
            audio, sr = media.read_audio(video, 48_000)
            fps = media.probe(video, decode=False).fps
        except (KitError, OSError) as e:
            skipped.append((clip_id, str(e) or type(e).__name__))
            continue
        media.write_video(out / f"{clip_id}.mp4", recon, fps, audio, sr)
        with files.atomic_path(out / f"{clip_id}.npz") as tmp:
            np.savez(tmp, box=np.asarray(box))
    return skipped


def reconstruction_gaze(animator: Animator, video: str | Path, store_dir: str | Path, clip_id: str,
                        reenacted: tuple | None = None) -> dict:
    """The ceiling for gaze: face-vid2vid re-rendering a clip from its own frames' keypoints. On the real and the
    re-rendered crops alike, dlib finds the eyes (on a 4x upscale) and the iris detector reads the gaze; `slope`
    (least squares of rendered on real gaze x) is 1 when face-vid2vid reproduces the eye movements and 0 when its
    keypoints do not carry them. Each crop gets its own landmarks, so a head that lags is not read as gaze.
    `reenacted`: that clip's `reenact` result when the renderer control has just made it."""
    from skimage.transform import rescale

    from spacex import gaze
    from spacex.dlib_face import PortraitError, detect_landmarks_dlib

    crops, recon, _ = reenacted or reenact(animator, video, store_dir, clip_id)
    crops = crops.permute(0, 2, 3, 1).numpy()

    def read(images: np.ndarray) -> np.ndarray:  # (T, S, S, 3) -> gaze x (T,), NaN where not found
        out = np.full(len(images), np.nan)
        for t, img in enumerate(images):
            big = (rescale(img, 4, order=1, channel_axis=-1) * 255).astype(np.uint8)
            try:
                lms = detect_landmarks_dlib(big) / 4
            except PortraitError:
                continue
            found = gaze.detect(img[None], lms[None])
            out[t] = found.gaze[0, 0] if found.valid[0] else np.nan
        return out

    real, fake = read(crops), read(recon)
    ok = np.isfinite(real) & np.isfinite(fake)
    if ok.sum() < 3:
        return {"clip": clip_id, "frames": int(ok.sum()), "of": len(real), "slope": None,
                "reason": "eyes not found on enough real and re-rendered crops"}
    g_real, g_fake = real[ok] - real[ok].mean(), fake[ok] - fake[ok].mean()
    out = {"clip": clip_id, "frames": int(ok.sum()), "of": len(real), "real_gaze_x_std": round(float(g_real.std()), 4),
           "slope": round(float((g_real * g_fake).sum() / max((g_real ** 2).sum(), 1e-12)), 3),
           "corr": round(float(np.corrcoef(g_real, g_fake)[0, 1]), 3) if g_fake.std() > 0 else 0.0}
    gt = Path(video).with_suffix(".npz")  # SynthTalk ground truth: is the measurement reliable at this size?
    if gt.exists():
        with np.load(gt) as z:
            if "gaze" in z:
                out["real_corr_with_truth"] = round(float(np.corrcoef(real[ok], z["gaze"][ok, 0])[0, 1]), 3)
    return out


def _demo(animator: Animator, cfg: Config, out: Path) -> Path:
    from skimage import data

    from spacex.tts import prosody_for, synthesize

    u = synthesize(cfg.animate.demo_text, "en-us+f3", prosody_for("happy", 0.5))
    wav = media.write_wav(out / "demo_speech.wav", u.audio, u.sample_rate)
    result = animator(data.astronaut(), wav, AnimateOptions(emotion="happy:0.5", pose=cfg.animate.pose,
                                                            pose_seed=cfg.animate.seed))
    video = result.save(out / "demo_astronaut.mp4", intermediates=True)
    result.save_side_by_side(video)  # demo_astronaut.panels.mp4: what each stage predicted
    return video
