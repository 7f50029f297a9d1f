"""Training steps/s per stage on this machine, with the profile's model sizes and batch (prints figures; record
them in docs/benchmarks.md). Needs the preprocessed store (and for l2l the fv2v keypoints): run `make repro`.

    .venv/bin/python benchmarks/train_throughput.py [--profile smoke] [--steps 20] [--stages s2l posegen fv2v l2l]
"""
import argparse
import importlib
import tempfile
import time

import torch

from spacex import config
from spacex.train.trainer import _device

TASKS = {"s2l": ("spacex.train.s2l", "S2LTask"), "posegen": ("spacex.train.posegen", "PoseGenTask"),
         "fv2v": ("spacex.train.fv2v", "FV2VTask"), "l2l": ("spacex.train.l2l", "L2LTask")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--stages", nargs="*", default=list(TASKS))
    args = ap.parse_args()
    cfg = config.load(args.profile)
    print(f"profile {cfg.profile}, torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    for stage in args.stages:
        module, cls = TASKS[stage]
        task = getattr(importlib.import_module(module), cls)(cfg)
        tcfg = getattr(cfg, stage).train
        device = _device(tcfg, 0)
        model = task.build_model(**task.model_args()).to(device)
        opt = torch.optim.Adam(list(task.parameters(model)), lr=1e-4)
        extra = task.extra_optimizers(model, tcfg)
        use_amp = tcfg.amp and device.type == "cuda"
        times = []
        for step in range(args.steps + 3):
            g = torch.Generator().manual_seed(step)
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in task.batch(step, 0, 1, g).items()}
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                loss, _ = task.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if extra:
                task.extra_update(model, batch, extra, task.extra_modules(model))
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step >= 3:  # skip warm-up
                times.append(time.perf_counter() - t0)
        params = sum(p.numel() for p in model.parameters())
        print(f"{stage:8s} {1 / (sum(times) / len(times)):7.2f} steps/s  batch {tcfg.batch_size:3d}  "
              f"{params / 1e6:6.2f} M params  device {device}  AMP {use_amp}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
