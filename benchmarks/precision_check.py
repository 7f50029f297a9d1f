"""Is bf16 rendering safe on trained weights? Frames and evaluation metrics, bf16 against fp32.

    .venv/bin/python benchmarks/precision_check.py                 # the trained smoke models in build/train
    .venv/bin/python benchmarks/precision_check.py --seeds 0 1 2 --out /tmp/precision

1. Frames: the first `--frame-clips` test clips animated by the same networks in fp32 and in bf16 (autocast on
   the renderer, `Animator(precision=...)`): per-pixel differences of the uint8 frames, PSNR of bf16 against
   fp32, and the renderer's seconds per frame in each (one process, interleaved: fp32, bf16, fp32, bf16, ...).
2. Metrics: the animate stage's test split rendered in fp32 with each of `--seeds` (PoseGen, blinks) and in
   bf16 with the first seed, each scored by the evaluate stage's code (methods spacex and the renderer
   control). bf16 passes when, for every metric, |bf16 - fp32| at the same seed is within the range of that
   metric over the fp32 seeds of the SPACEx row (what a rerun with another seed moves the result by anyway).

Writes `--json` (default benchmarks/results/precision_check.json) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from machine import cpu_model  # benchmarks/machine.py
from spacex import config
from spacex.animate.batch import _first_frame, render_split
from spacex.animate.pipeline import AnimateOptions, Animator, fast_bf16
from spacex.corpus import clip as clipfmt
from spacex.evaluate import score
from spacex.evaluate.metrics import registry




def frames_check(cfg, clips: list[str], repeat: int) -> dict:
    nets = Animator.from_runs(cfg.animate.runs, emotions=cfg.preprocess.emotions)
    animators = {p: Animator(nets.fv2v, nets.s2l, nets.l2l, nets.posegen, nets.emotions, "cpu", nets.features, p)
                 for p in ("fp32", "bf16")}
    per_clip, times = [], {"fp32": [], "bf16": []}
    for cid in clips:
        video = clipfmt.clip_paths(cfg.corpus.main, cid)["video"]
        photo, out = _first_frame(video), {}
        for _ in range(repeat):
            for p, a in animators.items():  # interleaved, so drift in the machine's load hits both
                r = a(photo, video, AnimateOptions(pose="fixed", blink="off"))
                times[p].append(r.timings["render"] / len(r.frames))
                out[p] = r.frames
        d = np.abs(out["bf16"].astype(np.int16) - out["fp32"].astype(np.int16))
        mse = float(np.mean(d.astype(np.float64) ** 2))
        per_clip.append({"clip": cid, "frames": len(d), "mean_abs": round(float(d.mean()), 4),
                         "p99_abs": int(np.percentile(d, 99)), "max_abs": int(d.max()),
                         "psnr_vs_fp32": round(10 * np.log10(255 ** 2 / max(mse, 1e-12)), 2)})
    ms = {p: round(1000 * float(np.median(v)), 2) for p, v in times.items()}
    return {"clips": per_clip, "render_ms_per_frame_median": ms,
            "render_ms_per_frame_range": {p: [round(1000 * min(v), 2), round(1000 * max(v), 2)] for p, v in times.items()},
            "speedup": round(ms["fp32"] / ms["bf16"], 2)}


def metrics_run(base, tag: str, precision: str, seed: int, out: Path) -> dict:
    cfg = config.with_overrides(base, {"animate.out": str(out / tag), "animate.precision": precision,
                                       "animate.seed": seed, "evaluate.out": str(out / tag / "evaluate"),
                                       "evaluate.reports": str(out / tag / "reports")})
    t0 = time.perf_counter()
    render_split(cfg)
    row = {"tag": tag, "precision": precision, "seed": seed, "animate_s": round(time.perf_counter() - t0, 1)}
    for method in ("spacex", "renderer"):
        s = score.score_method(cfg, method, progress=False)
        row[method] = {k: s["metrics"][k] for k in registry.TABLE if s["metrics"].get(k) is not None}
    print(json.dumps(row), flush=True)
    return row


def verdict(rows: list[dict]) -> dict:
    """Per method and metric: bf16 - fp32 at the same seed, against the tolerance: the range of that metric over
    the fp32 seeds of the SPACEx row (what rerunning the pipeline with another seed moves the main result by; the
    renderer control has no seed, so it is held to the same tolerance)."""
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    out = {}
    for method in ("spacex", "renderer"):
        for r in (x for x in rows if x["precision"] == "bf16"):
            ref = next(x for x in fp32 if x["seed"] == r["seed"])
            for k, v in r[method].items():
                vals = [x["spacex"][k] for x in fp32 if k in x["spacex"]]
                spread = max(vals) - min(vals) if len(vals) > 1 else None
                delta = v - ref[method][k]
                out[f"{method}.{k}"] = {"fp32": round(ref[method][k], 4), "bf16": round(v, 4),
                                        "delta": round(delta, 4),
                                        "tolerance": None if spread is None else round(spread, 4),
                                        "within": None if spread is None else bool(abs(delta) <= spread)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--frame-clips", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per clip and precision")
    ap.add_argument("--out", default="build/precision_check", help="renders and scores (scratch)")
    ap.add_argument("--json", default="benchmarks/results/precision_check.json")
    ap.add_argument("--no-metrics", action="store_true")
    ap.add_argument("--reuse-fp32", default=None, metavar="JSON",
                    help="take the fp32 runs from an earlier result of this script (the fp32 path unchanged since)")
    args = ap.parse_args(argv)
    base = config.load(args.profile)
    if not fast_bf16(torch.device("cpu")):
        print("note: this CPU has no native bf16 (AMX-BF16 / AVX512-BF16): bf16 is emulated and slower here")
    clips = [r["clip_id"] for r in clipfmt.read_manifest(base.corpus.main) if r["split"] == base.animate.split]
    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "native_bf16": fast_bf16(torch.device("cpu")),
              "frames": frames_check(base, clips[: args.frame_clips], args.repeat)}
    print(json.dumps(result["frames"], indent=1), flush=True)
    if not args.no_metrics:
        out = Path(args.out)
        if args.reuse_fp32:
            rows = [r for r in json.loads(Path(args.reuse_fp32).read_text())["runs"] if r["precision"] == "fp32"]
            result["fp32_runs_from"] = args.reuse_fp32
        else:
            rows = [metrics_run(base, f"fp32_seed{s}", "fp32", s, out) for s in args.seeds]
        rows.append(metrics_run(base, f"bf16_seed{args.seeds[0]}", "bf16", args.seeds[0], out))
        result.update(runs=rows, metrics=verdict(rows))
        for k, v in result["metrics"].items():
            print(f"{k:28s} fp32 {v['fp32']:9.4f}  bf16 {v['bf16']:9.4f}  delta {v['delta']:+.4f}  "
                  f"tolerance {v['tolerance']}  {'ok' if v['within'] else 'OUTSIDE'}")
        result["passed"] = all(v["within"] is not False for v in result["metrics"].values())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
