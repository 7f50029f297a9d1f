"""Training data at 1x and 10x the corpus: peak memory of a training rank and data-loader throughput per stage
(prints figures and writes benchmarks/results/data_scale.json; record them in docs/benchmarks.md).

    .venv/bin/python benchmarks/data_scale.py [--store build/preprocess] [--scale 10] [--batches 30] [--workers 1]

The 10x corpus is the pack (build/pack) copied `scale` times under new clip ids (real bytes on disk, not links, so
the page cache does not share them): the readers see 10x the clips, frames and audio. Each (stage, scale) runs in
a fresh process that builds the stage's Task as `spacex train` does (index, MFCC statistics, pools), then draws
`batches` batches through the DataLoader with the profile's batch and window (`--profile paper` for the paper
profile's batches and augmentation). Peak RSS is the process's maximum resident set (ru_maxrss, which counts the
memory-mapped pages it touched) and, separately, its workers'. Needs the store and, for l2l, the keypoints
(`make repro`).
"""
import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = {"s2l": ("spacex.train.s2l", "S2LTask"), "posegen": ("spacex.train.posegen", "PoseGenTask"),
          "fv2v": ("spacex.train.fv2v", "FV2VTask"), "l2l": ("spacex.train.l2l", "L2LTask")}


def replicate(store: Path, packed: Path, keypoints: Path, out: Path, scale: int) -> tuple[Path, Path, Path]:
    """A store manifest and a pack that hold every clip `scale` times (ids <clip>~r<k>), and the keypoint files."""
    idx = json.loads((packed / "index.json").read_text())
    (out / "store").mkdir(parents=True)
    (out / "pack").mkdir()
    manifest = json.loads((store / "manifest.json").read_text())  # the readers check the pack against it
    manifest["clips"] = [{**c, "clip_id": f"{c['clip_id']}~r{r}"} for r in range(scale) for c in manifest["clips"]]
    (out / "store" / "manifest.json").write_text(json.dumps(manifest))
    clips, shards = [], []
    for r in range(scale):
        for name in idx["shards"]:
            shutil.copytree(packed / name, out / "pack" / f"{name}~r{r}")
            shards.append(f"{name}~r{r}")
        clips += [{**c, "clip_id": f"{c['clip_id']}~r{r}", "shard": f"{c['shard']}~r{r}"} for c in idx["clips"]]
    sums = {s: {"count": v["count"] * scale, "sum": [x * scale for x in v["sum"]],
                "sum_squares": [x * scale for x in v["sum_squares"]]} for s, v in idx["mfcc_sums"].items()}
    (out / "pack" / "index.json").write_text(json.dumps({**idx, "store": str(out / "store"), "shards": shards,
                                                          "clips": clips, "mfcc_sums": sums}))
    kp_out = out / "keypoints"
    kp_out.mkdir()
    for f in keypoints.glob("*.npz") if keypoints.exists() else []:
        for r in range(scale):
            (kp_out / f"{f.stem}~r{r}.npz").symlink_to(f.resolve())
    return out / "store", out / "pack", kp_out


def measure(stage: str, store: str, packed: str, keypoints: str, profile: str | None, batches: int,
            workers: int) -> dict:
    """In this (fresh) process: build the stage's Task, draw `batches` batches through its DataLoader."""
    import importlib

    from spacex import config
    from spacex.train.loader import loader

    cfg = config.load(profile, overrides={"preprocess.out": store, "pack.out": packed, "fv2v.keypoints": keypoints})
    t0 = time.perf_counter()
    module, cls = STAGES[stage]
    task = getattr(importlib.import_module(module), cls)(cfg)
    start_s = time.perf_counter() - t0
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tcfg = getattr(cfg, stage).train
    it = iter(loader(task, tcfg.seed, 0, batches + 2, 0, 1, workers))
    next(it), next(it)  # warm-up: workers start, librosa compiles
    t0 = time.perf_counter()
    n = 0
    for b in it:
        n += len(next(iter(b.values())))
    seconds = time.perf_counter() - t0
    del it
    return {"stage": stage, "clips": len(task.train_data.clips), "batch": tcfg.batch_size, "workers": workers,
            "task_start_s": round(start_s, 2), "rss_after_start_mb": round(rss_start, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "samples_per_s": round(n / seconds, 1), "batches_per_s": round(batches / seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="build/preprocess")
    ap.add_argument("--pack", default="build/pack")
    ap.add_argument("--keypoints", default="build/keypoints")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--stages", nargs="*", default=list(STAGES))
    ap.add_argument("--out", default="benchmarks/results/data_scale.json")
    ap.add_argument("--_child", nargs=4, metavar=("STAGE", "STORE", "PACK", "KEYPOINTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(measure(*args._child, args.profile, args.batches, args.workers)))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from machine import cpu_model

    rows = []
    with tempfile.TemporaryDirectory(dir="build") as tmp:
        big, big_pack, big_kp = replicate(Path(args.store), Path(args.pack), Path(args.keypoints),
                                          Path(tmp) / f"x{args.scale}", args.scale)
        for stage in args.stages:
            if stage == "l2l" and not Path(args.keypoints).exists():
                print(f"l2l: no keypoints in {args.keypoints} (run `make repro`); skipped")
                continue
            for scale, store, packed, kp in ((1, args.store, args.pack, args.keypoints),
                                             (args.scale, str(big), str(big_pack), str(big_kp))):
                cmd = [sys.executable, __file__, "--_child", stage, store, packed, kp, "--batches", str(args.batches),
                       "--workers", str(args.workers)] + (["--profile", args.profile] if args.profile else [])
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                row = {"scale": scale, **json.loads(out)}
                rows.append(row)
                print(f"{stage:8s} x{scale:<3d} {row['clips']:5d} clips  start {row['task_start_s']:6.2f} s  peak RSS "
                      f"{row['peak_rss_mb']:7.1f} MB (workers {row['worker_peak_rss_mb']:7.1f})  "
                      f"{row['samples_per_s']:8.1f} samples/s", flush=True)
    growth = {}
    for stage in {r["stage"] for r in rows}:
        a, b = (next(r for r in rows if r["stage"] == stage and r["scale"] == s) for s in (1, args.scale))
        growth[stage] = round(b["peak_rss_mb"] / a["peak_rss_mb"] - 1, 4)
        print(f"{stage:8s} peak RSS x{args.scale} vs x1: {100 * growth[stage]:+.1f}%")
    import os

    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(), "cores": os.cpu_count(), "profile": args.profile or "smoke",
              "scale": args.scale, "batches": args.batches, "rows": rows, "peak_rss_growth": growth}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
