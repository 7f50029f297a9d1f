"""Can face-vid2vid's head pose estimator read SynthTalk's yaw? (prints figures; recorded in docs/training.md,
"The smoke renderer").

The renderer's estimator is supervised by the preprocessing's head pose (in place of Hopenet). SynthTalk's heads
turn a few degrees (yaw std 0.5-5 deg per clip), which at 128 px moves the nose by about a pixel against the face
outline. This trains the estimator alone, at the smoke profile's sizes, on that regression only (L1 in degrees
summed over yaw, pitch and roll, as the renderer's head-pose loss; flips as in training), once per head
(`headpose_pool` 1 = face-vid2vid's global mean, N = an N x N grid of means), and scores yaw on the val clips
against the preprocessing's: the per-clip Pearson r and least-squares slope of predicted on measured yaw (about
its clip mean), averaged over clips, and both pooled over all val frames.

    .venv/bin/python benchmarks/headpose_yaw.py [--pools 1 4] [--steps 600] [--batch 16]
        [--out benchmarks/results/headpose_yaw.json]

Run after `make repro` (it reads the pack). ~4 min per head on 2 CPU cores.
"""
import time

import numpy as np
import torch

import estimator_probe
from spacex import files
from spacex.crop import to_float
from spacex.models.fv2v.headpose import HeadExpressionEstimator
from spacex.train.fv2v import FrameData

MIRROR = torch.tensor([-1.0, 1.0, -1.0])  # a mirrored head turns and rolls the other way (spacex.train.fv2v)


def clip_arrays(data: FrameData) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every clip of the split: (frames (T, 3, S, S) uint8, preprocessing's pose (T, 3) degrees)."""
    return [(data.frames(c), torch.from_numpy(data.pack.get(c, "rotation").astype(np.float32))) for c in data.clips]


def train(pool: int, clips, steps: int, batch: int, sizes: dict, optim: dict, seed: int = 0) -> HeadExpressionEstimator:
    torch.manual_seed(seed)
    net = HeadExpressionEstimator(sizes["num_kp"], sizes["base"], sizes["headpose_levels"], sizes["headpose_stride"],
                                  pool)

    def loss_of(net, x, y):  # the renderer's head-pose loss: L1 in degrees summed over yaw, pitch and roll
        p = net(x)
        return (torch.stack([p["yaw"], p["pitch"], p["roll"]], -1) - y).abs().mean(0).sum()

    return estimator_probe.fit(net, clips, steps, batch, optim, lambda y: y * MIRROR, loss_of, seed)


@torch.no_grad()
def score(net, clips) -> dict:
    rs, slopes, all_true, all_pred = [], [], [], []
    for frames, pose in clips:
        pred = net(to_float(frames))["yaw"].numpy()
        true = pose[:, 0].numpy()
        g, q = true - true.mean(), pred - pred.mean()
        r, slope = estimator_probe.r_and_slope(g, q)
        rs.append(r)
        slopes.append(slope)
        all_true.append(g)
        all_pred.append(q)
    pooled_r, pooled_slope = estimator_probe.r_and_slope(np.concatenate(all_true), np.concatenate(all_pred))
    return {"clip_r_mean": float(np.mean(rs)), "clip_slope_mean": float(np.mean(slopes)),
            "pooled_r": pooled_r, "pooled_slope": pooled_slope,
            "clip_r": rs, "clip_slope": slopes}


def main():
    ap = estimator_probe.parser(__doc__.splitlines()[0], "benchmarks/results/headpose_yaw.json")
    ap.add_argument("--pools", type=int, nargs="+", default=[1, 4])
    a = ap.parse_args()
    cfg, m, optim = estimator_probe.setup(a)
    sizes = {"num_kp": m.num_kp, "base": m.base, "headpose_levels": m.headpose_levels,
             "headpose_stride": m.headpose_stride}
    train_clips = clip_arrays(FrameData(cfg.pack.out, "train", m.resolution))
    val_clips = clip_arrays(FrameData(cfg.pack.out, "val", m.resolution))
    results = {}
    for pool in a.pools:
        t0 = time.perf_counter()
        r = score(train(pool, train_clips, a.steps, a.batch, sizes, optim), val_clips)
        r["train_s"] = round(time.perf_counter() - t0, 1)
        results[f"pool_{pool}"] = r
        print(f"headpose_pool {pool}: val yaw r {r['clip_r_mean']:.3f} (pooled {r['pooled_r']:.3f}), slope "
              f"{r['clip_slope_mean']:.3f} (pooled {r['pooled_slope']:.3f}); {r['train_s']:.0f} s", flush=True)
    files.write_json(a.out, {"date": time.strftime("%Y-%m-%d"), "profile": a.profile, "resolution": m.resolution,
                             "sizes": sizes, "steps": a.steps, "batch": a.batch, "threads": a.threads,
                             "val_clips": len(val_clips), "results": results})


if __name__ == "__main__":
    main()
