"""What headpose_yaw.py and expression_probe.py share (imported by the scripts beside it): both train one of the
renderer's networks alone on one supervised target, at the profile's sizes and with its optimizer settings; and
how they and renderer_control.py score a prediction against its target (r and slope, anchor indexes)."""
from __future__ import annotations

import argparse

import torch

from spacex import config
from spacex.models.fv2v import losses as L

ANCHOR_INDEX = {a: i for i, a in enumerate(L.ANCHORS)}  # landmark number -> its anchor's keypoint


def parser(description: str, out: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--out", default=out)
    return ap


def setup(a: argparse.Namespace):
    """-> (the profile's fv2v.model args, the renderer's optimizer settings (fv2v.train)), threads set."""
    torch.set_num_threads(a.threads)
    cfg = config.load(a.profile, a.params)
    return cfg, cfg.fv2v.model, {"lr": cfg.fv2v.train.lr, "betas": tuple(cfg.fv2v.train.betas)}


def r_and_slope(g, q) -> tuple[float, float]:
    """Pearson r and least-squares slope of q on g, both (N,) and already centred by the caller."""
    import numpy as np

    return float(np.corrcoef(g, q)[0, 1]), float(g @ q / (g @ g))


def fit(net: torch.nn.Module, clips, steps: int, batch: int, optim: dict, mirror, loss_of, seed: int = 0):
    """Adam on `loss_of(net, images (B, 3, S, S), targets (B, ...))` over random frames of random clips
    [(frames (T, 3, S, S) uint8, targets (T, ...))], half of them flipped (`mirror(target)`: the flipped frame's
    target), as the renderer's training flips. -> the net, in eval mode."""
    import numpy as np

    from spacex.crop import to_float

    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), **optim)
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            frames, target = clips[rng.integers(len(clips))]
            t = rng.integers(len(frames))
            x, y = to_float(frames[t]), target[t]
            if rng.random() < 0.5:
                x, y = x.flip(-1), mirror(y)
            xs.append(x)
            ys.append(y)
        loss = loss_of(net, torch.stack(xs), torch.stack(ys))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()
