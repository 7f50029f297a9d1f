"""Where SPACEx loses the mouth: the test clips rendered through more and more of the pipeline, each rung scored
under the evaluate protocol as the spacex row is (prints figures; docs/training.md, "Where SPACEx loses the mouth").

Every rung animates the clip's first frame with the clip's own speech and emotion label, as the animate stage does;
Landmarks2Latents and face-vid2vid are the trained ones throughout. Rungs:

- `detected_true_pose`: Speech2Landmarks replaced by what it is trained to predict, the preprocessing's landmarks of
  the clip's own frames (the store's, normalized), posed with the head pose read from the clip (`--pose video:`),
  blinks as detected (`--blink off`): what L2L and the renderer lose of the motion.
- `s2l_true_pose`: Speech2Landmarks, posed with the clip's head pose: what S2L loses on top.
- `s2l_fixed_pose`: Speech2Landmarks, the photo's pose (`--pose fixed`): issue 12 (4)'s "end to end, fixed pose".
- `s2l_predicted_pose`: the pipeline (PoseGen, seed 0): the evaluate stage's spacex row.

The renderer control (face-vid2vid from each clip's own keypoints) and the still photo are the evaluate stage's rows
(`reports/evaluate/`); they are scored again here so that every ratio comes from one run.

    .venv/bin/python benchmarks/spacex_ladder.py [--out benchmarks/results/spacex_ladder.json]

Run after `make repro` (it reads the trained runs in build/train, the store and the corpus). ~8 min on 2 cores.
"""
import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import machine
from spacex import config
from spacex.animate.batch import clip_emotion, first_frame, render_reenactments
from spacex.animate.pipeline import AnimateOptions, Animator
from spacex.corpus import clip as clipfmt
from spacex.evaluate import score
from spacex.evaluate.report.inputs import bootstrap_interval
from spacex.preprocess import store

KEYS = ("lmd_mouth", "lmd_face", "psnr", "ssim", "av_corr", "pose_error", "yaw_std")
RUNGS = {  # name -> (landmarks, pose, blink)
    "detected_true_pose": ("detected", "video", "off"),
    "s2l_true_pose": ("s2l", "video", "auto"),
    "s2l_fixed_pose": ("s2l", "fixed", "auto"),
    "s2l_predicted_pose": ("s2l", "predicted", "auto"),
}


class DetectedLandmarks(torch.nn.Module):
    """Stands in for Speech2Landmarks: a clip's normalized landmarks as preprocessing detected them, (T, 68, 3),
    chunk by chunk (the pipeline's call: mfcc window, photo, emotion, state, context) -> ((1, n, 68, 3), state)."""

    context = 0  # no audio is read

    def __init__(self, landmarks: np.ndarray):
        super().__init__()
        self.landmarks = torch.from_numpy(landmarks.astype(np.float32))

    def forward(self, mfcc, photo, emotion, state=None, context=(0, 0)):
        s, n = state or 0, mfcc.shape[1] - sum(context)
        rows = np.minimum(np.arange(s, s + n), len(self.landmarks) - 1)  # the speech may outlast the video by a frame
        return self.landmarks[rows][None].to(photo.device), s + n


def scored(cfg, method: str, work: Path) -> tuple[dict, dict]:
    """(mean metrics, per-clip {clip: {key: value}}) of `method` with its renders under `work`."""
    c = config.load(cfg.profile, overrides={"animate.out": str(work), "evaluate.out": str(work / "ev"),
                                            "evaluate.reports": str(work / "rep"),
                                            "evaluate.max_clips": cfg.evaluate.max_clips})
    m = score.score_method(c, method, progress=False)["metrics"]
    with open(work / "ev" / method / "per_clip.csv") as f:
        per_clip = {row["clip_id"]: {k: float(row[k]) for k in KEYS if row.get(k) not in (None, "")}
                    for row in csv.DictReader(f)}
    return {k: m.get(k) for k in KEYS}, per_clip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/spacex_ladder.json")
    ap.add_argument("--runs", default=None, help="run folders fv2v/, s2l/, l2l/, posegen/ (default: animate.runs)")
    ap.add_argument("--limit", type=int, default=None, help="the first N test clips only (a trial run)")
    a = ap.parse_args()
    cfg = config.load("smoke", overrides={"evaluate.max_clips": a.limit or 0, **({"animate.runs": a.runs} if a.runs else {})})
    rows = [r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == cfg.animate.split][: a.limit]
    animator = Animator.from_runs(cfg.animate.runs, emotions=cfg.preprocess.emotions, precision=cfg.animate.precision,
                                  render_batch=cfg.animate.render_batch)
    s2l = animator.s2l
    root = Path(tempfile.mkdtemp(prefix="spacex_ladder_"))
    results = {}
    try:
        for name, (landmarks, pose, blink) in RUNGS.items():
            t0 = time.perf_counter()
            for r in rows:
                video = clipfmt.clip_paths(r["corpus"], r["clip_id"])["video"]
                animator.s2l = s2l if landmarks == "s2l" else DetectedLandmarks(
                    store.read_clip(cfg.preprocess.out, r["clip_id"])["landmarks_norm"])
                emotion = clip_emotion(r)
                options = AnimateOptions(emotion=emotion, pose=f"video:{video}" if pose == "video" else pose,
                                         pose_seed=cfg.animate.seed, blink=blink)
                animator(first_frame(video), video, options).save(root / name / f"{r['clip_id']}.mp4",
                                                                   intermediates=True)
            animator.s2l = s2l
            results[name] = dict(zip(("metrics", "per_clip"), scored(cfg, "spacex", root / name)))
            print(name, json.dumps({k: round(v, 4) for k, v in results[name]["metrics"].items() if v is not None}),
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        skipped = render_reenactments(animator, cfg, {r["clip_id"]: r["corpus"] for r in rows}, root / "ctl" / "renderer")
        assert not skipped, skipped
        for method, work in (("renderer", root / "ctl"), ("static", root / "static")):
            results[method] = dict(zip(("metrics", "per_clip"), scored(cfg, method, work)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    static = results["static"]["metrics"]["lmd_mouth"]
    print("\n| rung | mouth LMD | vs still photo | face LMD | step's paired mouth difference (95% interval) |")
    prev = "renderer"
    for name in ("renderer", *RUNGS, "static"):
        m = results[name]["metrics"]
        step = ""
        if name not in ("renderer", "static"):
            clips = sorted(set(results[name]["per_clip"]) & set(results[prev]["per_clip"]))
            d = np.array([results[name]["per_clip"][c]["lmd_mouth"] - results[prev]["per_clip"][c]["lmd_mouth"]
                          for c in clips])
            iv = bootstrap_interval(d)
            results[name]["step"] = {"from": prev, "mean": float(d.mean()), "interval": iv, "n": len(d)}
            step = f"{d.mean():+.3f} ({'n/a' if iv is None else f'{iv[0]:+.3f} to {iv[1]:+.3f}'}) from {prev}"
            prev = name
        print(f"| {name} | {m['lmd_mouth']:.3f} | {m['lmd_mouth'] / static:.3f}x | {m['lmd_face']:.3f} | {step} |")
    machine.write_result(a.out, {"date": time.strftime("%Y-%m-%d"), "cpu": machine.cpu_model(), "clips": len(rows),
                                 "rungs": {k: list(v) for k, v in RUNGS.items()}, "results": results})


if __name__ == "__main__":
    main()
