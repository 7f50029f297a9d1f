"""Preprocessing throughput per landmark backend on this machine (prints figures; record them in
docs/benchmarks.md). Single process, one thread, so figures scale with --workers / shards.

    .venv/bin/python benchmarks/preprocess_throughput.py [--clips 8] [--root data/synthtalk]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from spacex import config, weights
from spacex.corpus import clip as clipfmt
from spacex.preprocess import run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    cfg = config.load()
    root = args.root or cfg.corpus.main
    rows = clipfmt.read_manifest(root)[: args.clips]
    torch.set_num_threads(1)
    print(f"corpus {root}: {len(rows)} clips, one process, one thread")
    print(f"{'backend':16s} {'frames/s':>9s} {'decode':>7s} {'detect':>7s} {'landm.':>7s} {'feat.':>7s}  (ms/frame)  NME")
    with threadpool_limits(1):
        for backend in ("groundtruth", "dlib", "face_alignment"):
            pcfg = config.PreprocessConfig(**{**cfg.preprocess.__dict__, "backend": backend})
            try:
                run._BACKEND = None
                run._backend(pcfg)
            except weights.MissingWeights as e:
                print(f"{backend:16s} not run: " + next(ln for ln in str(e).splitlines() if "needs" in ln))
                continue
            run.process_clip(pcfg, Path(root), rows[0])  # warm-up (numba, model load)
            frames, stages, nmes = 0, {}, []
            t0 = time.perf_counter()
            for row in rows:
                _, meta = run.process_clip(pcfg, Path(root), row)
                frames += meta["n_frames"]
                for k, v in meta["timings"].items():
                    stages[k] = stages.get(k, 0) + v
                nmes.append(meta.get("nme", np.nan))
            wall = time.perf_counter() - t0
            ms = {k: 1000 * v / frames for k, v in stages.items()}
            print(f"{backend:16s} {frames / wall:9.1f} {ms['decode']:7.2f} {ms['detect']:7.2f} "
                  f"{ms['landmarks']:7.2f} {ms['features']:7.2f}  {np.nanmean(nmes):.4f}")


if __name__ == "__main__":
    main()
