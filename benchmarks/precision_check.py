"""Is bf16 rendering safe on trained weights? Frames and evaluation metrics, bf16 against fp32.

    .venv/bin/python benchmarks/precision_check.py                 # the trained smoke models in build/train
    .venv/bin/python benchmarks/precision_check.py --seeds 0 1 2 --out /tmp/precision

1. Frames: the first `--frame-clips` test clips animated by the same networks in fp32 and in bf16 (autocast on
   the renderer, `Animator(precision=...)`): per-pixel differences of the uint8 frames, PSNR of bf16 against
   fp32, and the renderer's seconds per frame in each (one process, interleaved: fp32, bf16, fp32, bf16, ...).
2. Metrics: the animate stage's test split rendered in fp32 with each of `--seeds` (PoseGen, blinks), in
   bf16 with the first seed, and `--dither` more times in fp32 with the first seed and a perturbation of the
   written frames that has the size of bf16's (the null: each pixel moved by a magnitude drawn from the
   measured |bf16 - fp32| histogram of step 1, random sign, no structure). Each is scored by the evaluate
   stage's code (methods spacex and the renderer control). A metric's tolerance is the larger of two noises
   that any rerun has: the range over the fp32 seeds of the SPACEx row (what another seed moves the result by)
   and the largest shift of that row's metric under the null (what an imperceptible change of the pixels
   moves a statistic read off them by: the renderer control has no seed, and its pose statistics come from
   landmarks detected on 128 px crops). bf16 passes when |bf16 - fp32| at the same seed is within the
   tolerance for every metric.

Writes `--json` (default benchmarks/results/precision_check.json) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from machine import cpu_model, write_result  # benchmarks/machine.py
from spacex import config, media
from spacex.animate.batch import _first_frame, render_split
from spacex.animate.pipeline import AnimateOptions, Animator, fast_bf16
from spacex.corpus import clip as clipfmt
from spacex.evaluate import score
from spacex.evaluate.metrics import registry




def frames_check(cfg, clips: list[str], repeat: int) -> dict:
    """bf16 against fp32 on `clips`: per-clip pixel differences, the histogram of |difference| (abs_hist[v]:
    how many channel values moved by v grey levels) and the renderer's seconds per frame in each."""
    nets = Animator.from_runs(cfg.animate.runs, emotions=cfg.preprocess.emotions)
    animators = {p: Animator(nets.fv2v, nets.s2l, nets.l2l, nets.posegen, nets.emotions, "cpu", nets.features, p)
                 for p in ("fp32", "bf16")}
    per_clip, times, hist = [], {"fp32": [], "bf16": []}, np.zeros(256, np.int64)
    for cid in clips:
        video = clipfmt.clip_paths(cfg.corpus.main, cid)["video"]
        photo, out = _first_frame(video), {}
        for _ in range(repeat):
            for p, a in animators.items():  # interleaved, so drift in the machine's load hits both
                r = a(photo, video, AnimateOptions(pose="fixed", blink="off"))
                times[p].append(r.timings["render"] / len(r.frames))
                out[p] = r.frames
        d = np.abs(out["bf16"].astype(np.int16) - out["fp32"].astype(np.int16))
        hist += np.bincount(d.ravel(), minlength=256)
        mse = float(np.mean(d.astype(np.float64) ** 2))
        per_clip.append({"clip": cid, "frames": len(d), "mean_abs": round(float(d.mean()), 4),
                         "p99_abs": int(np.percentile(d, 99)), "max_abs": int(d.max()),
                         "psnr_vs_fp32": round(10 * np.log10(255 ** 2 / max(mse, 1e-12)), 2)})
    ms = {p: round(1000 * float(np.median(v)), 2) for p, v in times.items()}
    return {"clips": per_clip, "render_ms_per_frame_median": ms,
            "render_ms_per_frame_range": {p: [round(1000 * min(v), 2), round(1000 * max(v), 2)] for p, v in times.items()},
            "speedup": round(ms["fp32"] / ms["bf16"], 2), "abs_hist": np.trim_zeros(hist, "b").tolist()}


@contextmanager
def dithered_writes(abs_hist: list[int], seed: int):
    """While active, every video the kit writes from an array of frames gets the null perturbation: each channel
    value moved by a magnitude drawn from `abs_hist` with a random sign (clipped to 0..255)."""
    rng = np.random.default_rng(seed)
    p = np.asarray(abs_hist, np.float64) / sum(abs_hist)
    real = media.write_video

    def write(path, frames, *args, **kw):
        if isinstance(frames, list) and frames and isinstance(frames[0], np.ndarray):
            frames = np.stack(frames)
        if isinstance(frames, np.ndarray) and frames.dtype == np.uint8:
            step = rng.choice(len(p), size=frames.shape, p=p).astype(np.int16)
            step *= rng.choice(np.array([-1, 1], np.int16), size=frames.shape)
            frames = np.clip(frames.astype(np.int16) + step, 0, 255).astype(np.uint8)
        return real(path, frames, *args, **kw)

    media.write_video = write  # batch.py and pipeline.py call media.write_video: one patch covers both
    try:
        yield
    finally:
        media.write_video = real


def metrics_run(base, tag: str, precision: str, seed: int, out: Path, null: str | None = None) -> dict:
    cfg = config.with_overrides(base, {"animate.out": str(out / tag), "animate.precision": precision,
                                       "animate.seed": seed, "evaluate.out": str(out / tag / "evaluate"),
                                       "evaluate.reports": str(out / tag / "reports")})
    t0 = time.perf_counter()
    render_split(cfg)
    row = {"tag": tag, "precision": precision, "seed": seed, "null": null,
           "animate_s": round(time.perf_counter() - t0, 1)}
    for method in ("spacex", "renderer"):
        s = score.score_method(cfg, method, progress=False)
        row[method] = {k: s["metrics"][k] for k in registry.TABLE if s["metrics"].get(k) is not None}
    print(json.dumps(row), flush=True)
    return row


def verdict(rows: list[dict]) -> dict:
    """Per method and metric: bf16 - fp32 at the same seed, against the tolerance (module docstring): the larger
    of the range over the fp32 seeds of the SPACEx row and the largest |null - fp32| of that method's metric."""
    fp32 = [r for r in rows if r["precision"] == "fp32" and not r.get("null")]
    nulls = [r for r in rows if r.get("null")]
    out = {}
    for method in ("spacex", "renderer"):
        for r in (x for x in rows if x["precision"] == "bf16"):
            ref = next(x for x in fp32 if x["seed"] == r["seed"])
            for k, v in r[method].items():
                vals = [x["spacex"][k] for x in fp32 if k in x["spacex"]]
                spread = max(vals) - min(vals) if len(vals) > 1 else None
                moved = [abs(n[method][k] - ref[method][k]) for n in nulls if n["seed"] == r["seed"] and k in n[method]]
                null = max(moved) if moved else None
                parts = [x for x in (spread, null) if x is not None]
                tol = max(parts) if parts else None
                delta = v - ref[method][k]
                out[f"{method}.{k}"] = {"fp32": round(ref[method][k], 4), "bf16": round(v, 4),
                                        "delta": round(delta, 4),
                                        "seed_range": None if spread is None else round(spread, 4),
                                        "null_shift": None if null is None else round(null, 4),
                                        "tolerance": None if tol is None else round(tol, 4),
                                        "within": None if tol is None else bool(abs(delta) <= tol + 1e-9)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--frame-clips", type=int, default=2)
    ap.add_argument("--dither", type=int, default=2, help="fp32 runs with the null perturbation (0: none)")
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
            rows = [r for r in json.loads(Path(args.reuse_fp32).read_text())["runs"]
                    if r["precision"] == "fp32" and not r.get("null")]
            result["fp32_runs_from"] = args.reuse_fp32
        else:
            rows = [metrics_run(base, f"fp32_seed{s}", "fp32", s, out) for s in args.seeds]
        rows.append(metrics_run(base, f"bf16_seed{args.seeds[0]}", "bf16", args.seeds[0], out))
        for d in range(args.dither):  # the null: fp32 frames moved by bf16's amount without its structure
            with dithered_writes(result["frames"]["abs_hist"], seed=d):
                rows.append(metrics_run(base, f"fp32_seed{args.seeds[0]}_null{d}", "fp32", args.seeds[0], out,
                                        null=f"dither draw {d}"))
        result.update(runs=rows, metrics=verdict(rows))
        for k, v in result["metrics"].items():
            print(f"{k:28s} fp32 {v['fp32']:9.4f}  bf16 {v['bf16']:9.4f}  delta {v['delta']:+.4f}  "
                  f"seeds {v['seed_range']}  null {v['null_shift']}  {'ok' if v['within'] else 'OUTSIDE'}")
        result["passed"] = all(v["within"] is not False for v in result["metrics"].values())
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
