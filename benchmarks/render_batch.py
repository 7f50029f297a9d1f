"""Which render batch is fastest? The trained renderer's seconds per frame by frames per call, in each precision.

    .venv/bin/python benchmarks/render_batch.py                    # the trained smoke models in build/train
    .venv/bin/python benchmarks/render_batch.py --batches 1 4 16 --precisions fp32 bf16 --device cuda

A test clip's own keypoints (the renderer control's re-enactment: face-vid2vid alone) are rendered again and again
with `Animator.render(..., chunk=B)` for each batch B and precision, interleaved (B1 fp32, B1 bf16, B4 fp32, ...,
then again), one warm-up round, median of `--repeat` rounds. The animate stage renders in batches of
`Animator.render_batch` (`animate.render_batch`, `spacex animate --render-batch`); this is how its default was chosen.
Prints a table and writes `--json` (default benchmarks/results/render_batch.json).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from machine import cpu_model, write_result  # benchmarks/machine.py
from spacex import config, devices
from spacex.animate.batch import own_keypoints
from spacex.animate.pipeline import Animator, fast_bf16
from spacex.corpus import clip as clipfmt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--batches", nargs="*", type=int, default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    ap.add_argument("--frames", type=int, default=64, help="frames rendered per timing")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default="benchmarks/results/render_batch.json")
    args = ap.parse_args(argv)
    cfg = config.load(args.profile)
    device = devices.resolve(args.device)
    nets = Animator.from_runs(cfg.animate.runs, emotions=cfg.preprocess.emotions, device=device)
    row = next(r for r in clipfmt.read_manifest(cfg.corpus.main) if r["split"] == cfg.animate.split)
    _, source, src, kps, _ = own_keypoints(nets, clipfmt.clip_paths(cfg.corpus.main, row["clip_id"])["video"],
                                           cfg.preprocess.out, row["clip_id"])
    kps = kps[: args.frames]  # (T, K, 3)
    animators = {p: Animator(nets.fv2v, nets.s2l, nets.l2l, nets.posegen, nets.emotions, str(nets.device),
                             nets.features, p) for p in args.precisions}
    times: dict[str, list[float]] = {f"{p}/{b}": [] for b in args.batches for p in args.precisions}
    for r in range(args.repeat + 1):  # round 0: warm-up, not kept
        for b in args.batches:
            for p, a in animators.items():
                t0 = time.perf_counter()
                with torch.no_grad():  # as Animator.__call__ renders
                    a.render(source, src, kps, chunk=b)
                if nets.device.type == "cuda":
                    torch.cuda.synchronize()
                if r:
                    times[f"{p}/{b}"].append((time.perf_counter() - t0) / len(kps))
    ms = {k: round(1000 * float(np.median(v)), 2) for k, v in times.items()}
    best = {p: min(args.batches, key=lambda b: ms[f"{p}/{b}"]) for p in args.precisions}
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(), "device": str(nets.device),
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "native_bf16": fast_bf16(nets.device), "resolution": nets.fv2v.args.resolution, "frames": len(kps),
              "repeat": args.repeat, "ms_per_frame_median": ms,
              "ms_per_frame_range": {k: [round(1000 * min(v), 2), round(1000 * max(v), 2)] for k, v in times.items()},
              "fastest_batch": best}
    print(f"{'batch':>6} " + " ".join(f"{p:>12}" for p in args.precisions))
    for b in args.batches:
        print(f"{b:>6} " + " ".join(f"{ms[f'{p}/{b}']:>9.2f} ms" for p in args.precisions))
    print("fastest:", best)
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
