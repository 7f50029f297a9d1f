"""The evaluate stage's renderer control for any face-vid2vid run folders, and how their keypoints follow the face
(prints figures; the ablation rows of docs/training.md, "The smoke renderer").

For each run folder (`spacex train fv2v --set fv2v.out=DIR ...`): face-vid2vid re-enacts every test clip from
the keypoints of its own frames (`render_reenactments`, as the animate stage does), scored under the evaluate
protocol (method `renderer`; per-clip mouth and face LMD and PSNR kept for paired comparisons). Then, on the
same clips, how its keypoints follow the preprocessing's landmarks (losses.ANCHORS): per-clip r and slope of
the keypoints' vertical gaps (inner lips 62-66, outer lips 51-57) on the landmarks' gaps, and the eyelid gap
(37-41, 44-46) of the keypoints on the frames where SynthTalk's true eye closure is above 0.7, over that on
open-eye frames (1 = the lid keypoints do not close; the store's dlib landmarks: about 0.7).

    .venv/bin/python benchmarks/renderer_control.py RUN [RUN ...] [--out benchmarks/results/renderer_control.json]

With several runs it also prints each one's paired difference from the first (mouth / face LMD, PSNR), with the
report's bootstrap interval over clips.

Run after `make repro` (it reads the store, the corpus and the default renderer's settings). ~5 min per run.
"""
import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import estimator_probe
import machine
from spacex import config
from spacex.animate.batch import own_keypoints, render_reenactments
from spacex.animate.pipeline import Animator
from spacex.checkpoint import load_model
from spacex.corpus import clip as clipfmt
from spacex.evaluate import score
from spacex.evaluate.report.inputs import bootstrap_interval
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.preprocess import store
from spacex.train.fv2v import anchor_targets

KEYS = ("psnr", "ssim", "cpbd", "lmd_mouth", "lmd_face", "blink_rate", "blink_depth", "pose_error", "yaw_std")
IDX = estimator_probe.ANCHOR_INDEX
GAPS = {"inner_lips": (62, 66), "outer_lips": (51, 57)}


def tracking(animator: Animator, cfg, rows: list[dict]) -> dict:
    """How the run's keypoints follow the landmarks' mouth gaps and the true blinks, averaged over clips."""
    fv2v = animator.fv2v
    per = {g: ([], []) for g in GAPS}
    lids = []
    for r in rows:
        video = clipfmt.clip_paths(r["corpus"], r["clip_id"])["video"]
        _, _, _, kps, _ = own_keypoints(animator, video, cfg.preprocess.out, r["clip_id"])
        k = kps.numpy()  # (T, K, 3)
        s = store.read_clip(cfg.preprocess.out, r["clip_id"])
        tgt = anchor_targets(s["landmarks"], s["iris"], s["crop_box"], fv2v.args.resolution).numpy()  # (T, A, 2)
        for g, (a, b) in GAPS.items():
            gt, pr = tgt[:, IDX[b], 1] - tgt[:, IDX[a], 1], k[:, IDX[b], 1] - k[:, IDX[a], 1]
            rho, slope = estimator_probe.r_and_slope(gt - gt.mean(), pr - pr.mean())  # not r: the clip's row
            per[g][0].append(rho)
            per[g][1].append(slope)
        closure = score.true_closure(r, len(k), float(r["fps"]))  # the corpus's track, frame for frame of the video
        gap = (k[:, IDX[41], 1] - k[:, IDX[37], 1] + k[:, IDX[46], 1] - k[:, IDX[44], 1]) / 2
        if closure is not None and (closure > 0.7).any():
            lids.append(float(gap[closure > 0.7].mean() / gap[closure < 0.05].mean()))
    out = {f"{g}_r": float(np.mean(rs)) for g, (rs, _) in per.items()}
    out.update({f"{g}_slope": float(np.mean(sl)) for g, (_, sl) in per.items()})
    out["lid_gap_closed_over_open"] = float(np.mean(lids)) if lids else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="face-vid2vid run folders (with last.pt)")
    ap.add_argument("--out", default="benchmarks/results/renderer_control.json")
    a = ap.parse_args()
    cfg = config.load("smoke")
    rows = [r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == cfg.evaluate.split]
    results = {}
    for run in a.runs:
        model, ckpt = load_model(Path(run) / "last.pt", FaceVid2Vid, "cpu")
        animator = Animator(model.eval(), None, None, None, cfg.preprocess.emotions)
        work = Path(tempfile.mkdtemp(prefix="renderer_control_"))
        try:
            skipped = render_reenactments(animator, cfg, {r["clip_id"]: r["corpus"] for r in rows}, work / "renderer")
            assert not skipped, skipped
            m = score.score_method(config.load("smoke", overrides={
                "animate.out": str(work), "evaluate.out": str(work / "ev"), "evaluate.reports": str(work / "rep")}),
                "renderer", progress=False)["metrics"]
            with open(work / "ev" / "renderer" / "per_clip.csv") as f:  # for paired comparisons between runs
                per_clip = {row["clip_id"]: {k: float(row[k]) for k in ("lmd_mouth", "lmd_face", "psnr")}
                            for row in csv.DictReader(f)}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        r = {k: m.get(k) for k in KEYS} | tracking(animator, cfg, rows)
        r["steps"] = ckpt.get("step")
        r["per_clip"] = per_clip
        results[run] = r
        print(run, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items() if k != "per_clip"}),
              flush=True)
    first, *others = a.runs
    paired = {}
    for run in others:  # run - first, per clip, with the report's seeded bootstrap over clips
        clips = sorted(set(results[run]["per_clip"]) & set(results[first]["per_clip"]))
        for k in ("lmd_mouth", "lmd_face", "psnr"):
            d = np.array([results[run]["per_clip"][c][k] - results[first]["per_clip"][c][k] for c in clips])
            paired[f"{run} - {first}: {k}"] = {"mean": float(d.mean()), "interval": bootstrap_interval(d), "n": len(d)}
            print(f"{run} - {first}: {k} {d.mean():+.4f} (95% interval {bootstrap_interval(d)}, {len(d)} clips)")
    machine.write_result(a.out, {"date": time.strftime("%Y-%m-%d"), "cpu": machine.cpu_model(),
                                 "clips": len(rows), "results": results, "paired": paired})


if __name__ == "__main__":
    main()
