"""Is a reduced precision safe on trained weights? Frames and evaluation metrics, against fp32.

    .venv/bin/python benchmarks/precision_check.py                 # the trained smoke models in build/train
    .venv/bin/python benchmarks/precision_check.py --seeds 0 1 2 --out /tmp/precision
    .venv/bin/python benchmarks/precision_check.py --precision bf16 --json benchmarks/results/precision_check_bf16.json

The committed results pool four null draws (2026-12-03): A = `--precision bf16 --json A` (3 fp32 seeds, bf16, two
bf16-sized nulls), B = `--precision bf16conv --reuse A --dither 2 --json B` (bf16conv, two bf16conv-sized nulls),
then `--precision bf16 --reuse A B --json precision_check_bf16.json` and `--precision bf16conv --reuse A B
--json precision_check.json` (nothing rendered again but step 1's frames).

`--precision` (default bf16conv) is the mode checked (spacex.animate.pipeline.PRECISIONS), "reduced" below.

1. Frames: the first `--frame-clips` test clips animated by the same networks in fp32 and in the reduced mode
   (`Animator(precision=...)`, the per-frame renderer only): per-pixel differences of the uint8 frames, PSNR
   against fp32, and the renderer's seconds per frame in each (one process, interleaved: fp32, reduced, ...).
2. Metrics: the animate stage's test split rendered in fp32 with each of `--seeds` (PoseGen, blinks), in
   the reduced mode with the first seed, and `--dither` more times in fp32 with the first seed and a perturbation
   of the written frames that has the size of the reduced mode's (the null: each pixel moved by a magnitude drawn
   from the measured |reduced - fp32| histogram of step 1, random sign, no structure). Each is scored by the evaluate
   stage's code (methods spacex and the renderer control). A metric's tolerance is the larger of two noises
   that any rerun has: the range over the fp32 seeds of the SPACEx row (what another seed moves the result by)
   and the largest shift of that row's metric under the null draws (what an imperceptible change of the pixels
   moves a statistic read off them by: the H.264 encoder re-decides its blocks and the landmark detector reads
   128 px crops, so even frames that differ by one grey level in 0.2% of their values move the pose statistics
   by ~0.05 deg and a sync offset by a frame; measured 2026-12-03).
3. Verdict. (a) Frames: every clip at least 50 dB PSNR from fp32 with its 99th-percentile |difference| at most
   2 grey levels. (b) Metrics: how many of the ~30 metrics fall outside their tolerance, against how many fall
   outside for a null draw judged the same way: with a handful of draws the largest null shift underestimates
   the null's tail, so even a null draw exceeds it on some metrics, and "every metric within" would fail any
   perturbation at all. Leave-one-out, on equal footing: for each null draw j, the tolerances come from the
   seeds and the other null draws, and both null j and the checked mode are counted against them. The mode
   passes when (a) holds and its mean count over the j is at most the largest null count (with fewer than 2
   null draws: when every metric is within the tolerance of all of them).
   `--reuse JSON...` pools the fp32 seed runs, every null draw (of either mode: all are imperceptible
   perturbations) and an earlier run of the checked mode from earlier results of this script.

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
from spacex.animate.batch import clip_emotion, first_frame, render_split
from spacex.animate.pipeline import AnimateOptions, Animator, fast_bf16
from spacex.corpus import clip as clipfmt
from spacex.evaluate import score
from spacex.evaluate.metrics import registry




def frames_check(cfg, clips: list[str], repeat: int, mode: str) -> dict:
    """`mode` against fp32 on `clips`: per-clip pixel differences, the histogram of |difference| (abs_hist[v]:
    how many channel values moved by v grey levels) and the renderer's seconds per frame in each."""
    nets = Animator.from_runs(cfg.animate.runs, emotions=cfg.preprocess.emotions)
    animators = {p: Animator(nets.fv2v, nets.s2l, nets.l2l, nets.posegen, nets.emotions, "cpu", nets.features, p)
                 for p in ("fp32", mode)}
    per_clip, times, hist = [], {"fp32": [], mode: []}, np.zeros(256, np.int64)
    for cid in clips:
        video = clipfmt.clip_paths(cfg.corpus.main, cid)["video"]
        photo, out = first_frame(video), {}
        for _ in range(repeat):
            for p, a in animators.items():  # interleaved, so drift in the machine's load hits both
                r = a(photo, video, AnimateOptions(pose="fixed", blink="off"))
                times[p].append(r.timings["render"] / len(r.frames))
                out[p] = r.frames
        d = np.abs(out[mode].astype(np.int16) - out["fp32"].astype(np.int16))
        hist += np.bincount(d.ravel(), minlength=256)
        mse = float(np.mean(d.astype(np.float64) ** 2))
        per_clip.append({"clip": cid, "frames": len(d), "mean_abs": round(float(d.mean()), 4),
                         "p99_abs": int(np.percentile(d, 99)), "max_abs": int(d.max()),
                         "psnr_vs_fp32": round(10 * np.log10(255 ** 2 / max(mse, 1e-12)), 2)})
    ms = {p: round(1000 * float(np.median(v)), 2) for p, v in times.items()}
    return {"clips": per_clip, "render_ms_per_frame_median": ms,
            "render_ms_per_frame_range": {p: [round(1000 * min(v), 2), round(1000 * max(v), 2)] for p, v in times.items()},
            "speedup": round(ms["fp32"] / ms[mode], 2), "abs_hist": np.trim_zeros(hist, "b").tolist()}


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


def _tolerances(fp32: list[dict], nulls: list[dict], ref: dict, method: str, k: str):
    """(seed range of the SPACEx row, largest |null - ref| of this method's metric) for metric k; None if unknown."""
    vals = [x["spacex"][k] for x in fp32 if k in x["spacex"]]
    moved = [abs(n[method][k] - ref[method][k]) for n in nulls if k in n[method] and k in ref[method]]
    return (max(vals) - min(vals) if len(vals) > 1 else None), (max(moved) if moved else None)


def _outside(cand: dict, fp32: list[dict], nulls: list[dict]) -> dict:
    """Per method.metric of run `cand`: its shift from the fp32 run of its seed and the tolerance (module
    docstring) from the seeds and `nulls`."""
    ref = next(x for x in fp32 if x["seed"] == cand["seed"])
    out = {}
    for method in ("spacex", "renderer"):
        for k, v in cand[method].items():
            spread, null = _tolerances(fp32, nulls, ref, method, k)
            parts = [x for x in (spread, null) if x is not None]
            tol = max(parts) if parts else None
            delta = v - ref[method][k]
            out[f"{method}.{k}"] = {"fp32": round(ref[method][k], 4), "reduced": round(v, 4), "delta": round(delta, 4),
                                    "seed_range": None if spread is None else round(spread, 4),
                                    "null_shift": None if null is None else round(null, 4),
                                    "tolerance": None if tol is None else round(tol, 4),
                                    "within": None if tol is None else bool(abs(delta) <= tol + 1e-9)}
    return out


def verdict(rows: list[dict], mode: str, frames: dict) -> dict:
    """The module docstring's step 3 for the run of `mode` among `rows` (fp32 seed runs, null draws)."""
    fp32 = [r for r in rows if r["precision"] == "fp32" and not r.get("null")]
    nulls = [r for r in rows if r.get("null")]
    cand = next(r for r in rows if r["precision"] == mode)
    metrics = _outside(cand, fp32, nulls)  # the table: tolerances from every null draw
    outside = sorted(k for k, v in metrics.items() if v["within"] is False)

    def count(run: dict, others: list[dict]) -> int:
        return sum(v["within"] is False for v in _outside(run, fp32, others).values())

    subsets = [nulls[:j] + nulls[j + 1:] for j in range(len(nulls))]
    null_counts = [count(n, sub) for n, sub in zip(nulls, subsets)]
    mode_counts = [count(cand, sub) for sub in subsets]
    frames_ok = all(c["psnr_vs_fp32"] >= 50 and c["p99_abs"] <= 2 for c in frames["clips"])
    if len(nulls) >= 2:
        ok = float(np.mean(mode_counts)) <= max(null_counts)
    else:
        ok = not outside
    return {"metrics": metrics, "outside": outside, "null_draws": [n["tag"] for n in nulls],
            "null_outside_counts": null_counts, "mode_outside_counts": mode_counts,
            "allowed_outside": max(null_counts) if len(nulls) >= 2 else 0, "frames_ok": frames_ok,
            "passed": bool(frames_ok and ok)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--precision", default="bf16conv", choices=["bf16conv", "bf16"], help="the mode checked")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--frame-clips", type=int, default=2)
    ap.add_argument("--dither", type=int, default=None,
                    help="fp32 runs with the null perturbation of this mode's size (default 2, or 0 with --reuse)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per clip and precision")
    ap.add_argument("--out", default="build/precision_check", help="renders and scores (scratch)")
    ap.add_argument("--json", default="benchmarks/results/precision_check.json")
    ap.add_argument("--no-metrics", action="store_true")
    ap.add_argument("--reuse", nargs="*", default=[], metavar="JSON",
                    help="earlier results of this script (same models, fp32 path unchanged since): their fp32 seed "
                         "runs, null draws and any run of the checked mode are used instead of rendering again")
    args = ap.parse_args(argv)
    base = config.load(args.profile)
    if not fast_bf16(torch.device("cpu")):
        print("note: this CPU has no native bf16 (AMX-BF16 / AVX512-BF16): bf16 is emulated here")
    clips = [r["clip_id"] for r in clipfmt.read_manifest(base.corpus.main) if r["split"] == base.animate.split]
    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "native_bf16": fast_bf16(torch.device("cpu")),
              "precision": args.precision, "frames": frames_check(base, clips[: args.frame_clips], args.repeat,
                                                                 args.precision)}
    print(json.dumps(result["frames"], indent=1), flush=True)
    if not args.no_metrics:
        out = Path(args.out)
        old = [r for f in args.reuse for r in json.loads(Path(f).read_text())["runs"]]
        seeds = [r for r in old if r["precision"] == "fp32" and not r.get("null")]
        seeds = [next(r for r in seeds if r["seed"] == s) for s in sorted({r["seed"] for r in seeds})]  # one per seed
        rows = seeds or [metrics_run(base, f"fp32_seed{s}", "fp32", s, out) for s in args.seeds]
        rows += [r for r in old if r.get("null")]
        mine = [r for r in old if r["precision"] == args.precision][:1]
        rows += mine or [metrics_run(base, f"{args.precision}_seed{args.seeds[0]}", args.precision, args.seeds[0], out)]
        dither = args.dither if args.dither is not None else (0 if args.reuse else 2)
        for d in range(dither):  # the null: fp32 frames moved by the reduced mode's amount, no structure
            with dithered_writes(result["frames"]["abs_hist"], seed=d):
                rows.append(metrics_run(base, f"fp32_seed{args.seeds[0]}_null{args.precision}{d}", "fp32",
                                        args.seeds[0], out, null=f"{args.precision}-sized dither draw {d}"))
        if args.reuse:
            result["reused"] = args.reuse
        result.update(runs=rows, **verdict(rows, args.precision, result["frames"]))
        for k, v in result["metrics"].items():
            print(f"{k:28s} fp32 {v['fp32']:9.4f}  {args.precision} {v['reduced']:9.4f}  delta {v['delta']:+.4f}  "
                  f"seeds {v['seed_range']}  null {v['null_shift']}  {'ok' if v['within'] else 'OUTSIDE'}")
        print(f"outside: {len(result['outside'])} {result['outside']}; leave-one-out counts: mode "
              f"{result['mode_outside_counts']}, null draws {result['null_outside_counts']}; frames ok: "
              f"{result['frames_ok']}; passed: {result['passed']}")
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
