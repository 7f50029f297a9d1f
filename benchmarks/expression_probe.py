"""Can face-vid2vid's expression estimator see a mouth opening or a blink? (prints figures; recorded in
docs/training.md, "Where the renderer loses the mouth and the eyes").

In face-vid2vid a frame's expression is a delta per keypoint regressed from the head pose estimator's pooled
features. In the smoke renderer so trained the eyelid keypoints do not close on SynthTalk's true blinks and the lip
keypoints follow the lips at half their motion. This trains one network alone, at the smoke profile's sizes, to put
its keypoints (image x/y) on the frame's landmark anchors (the renderer's `landmark_anchor` targets, L1, flips as
in training), once per variant (`--variants`): `levels:pool`, the regressing estimator (translation +
deformation; 3:4 = the smoke profile's), or `heatmap`, the canonical keypoint detector's form (3D heatmaps,
soft-argmax) reading the frame itself (`fv2v.model.expression: heatmap`). It scores on the val clips the per-clip
Pearson r and slope of the predicted vertical gaps on the landmarks' gaps (eyelids 37-41 and 44-46, inner lips
62-66), averaged over clips, and the mean anchor error in crop pixels. The lid gaps of dlib's landmarks move on
blinks (4% of the frames) by about 1 px and are otherwise mostly the detector's noise, so low lid figures here say
little; benchmarks/renderer_control.py measures the lids against the true blinks.

    .venv/bin/python benchmarks/expression_probe.py [--variants 3:4 2:8 heatmap] [--steps 600] [--batch 16]
        [--out benchmarks/results/expression_probe.json]

Run after `make repro` (it reads the pack). 3-6 min per variant on 2 CPU cores."""
import time

import numpy as np
import torch

import estimator_probe
import machine
from spacex import files
from spacex.crop import to_float
from spacex.models.fv2v import losses as L
from spacex.models.fv2v.headpose import HeadExpressionEstimator
from spacex.models.fv2v.keypoints import CanonicalKeypointDetector
from spacex.train.fv2v import FrameData

IDX = estimator_probe.ANCHOR_INDEX
GAPS = {"right_lids": (37, 41), "left_lids": (44, 46), "inner_lips": (62, 66)}  # vertical gaps, upper -> lower


def clip_arrays(data: FrameData) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every clip of the split: (frames (T, 3, S, S) uint8, anchor targets (T, A, 2) in [-1, 1])."""
    out = []
    for c in data.clips:
        frames = data.frames(c)
        out.append((frames, data.anchors(c, list(range(len(frames))))))
    return out


def anchors_of(net, x) -> torch.Tensor:
    """The network's keypoints as anchor predictions (B, A, 2), image x/y: the estimator's translation +
    deformation, or the heatmap detector's expected positions."""
    if isinstance(net, CanonicalKeypointDetector):
        return net(x)[:, : len(L.ANCHORS), :2]
    p = net(x)
    return p["t"][:, None, :2] + p["delta"][:, : len(L.ANCHORS), :2]


def build(variant: str, sizes: dict):
    """`levels:pool`: the head pose + expression estimator (global regression); `heatmap`: the renderer's
    canonical keypoint detector (3D heatmaps, soft-argmax) at the same sizes, reading the frame itself."""
    if variant == "heatmap":
        return CanonicalKeypointDetector(sizes["num_kp"], sizes["base"], sizes["depth"], form=sizes["keypoint_hourglass"],
                                         levels=sizes["hourglass_levels"], max_ch=sizes["hourglass_max"],
                                         deep_skip=sizes["hourglass_deep_skip"])  # as the model builds it
    levels, pool = (int(x) for x in variant.split(":"))
    return HeadExpressionEstimator(sizes["num_kp"], sizes["base"], levels, sizes["headpose_stride"], pool)


def train(variant: str, clips, steps: int, batch: int, sizes: dict, optim: dict, seed: int = 0):
    torch.manual_seed(seed)
    net = build(variant, sizes)
    mirror = lambda y: y[list(L.ANCHOR_MIRROR)] * torch.tensor([-1.0, 1.0])  # as in training (spacex.train.fv2v)
    loss_of = lambda net, x, y: L.anchor_loss(_pad(anchors_of(net, x)), y)
    return estimator_probe.fit(net, clips, steps, batch, optim, mirror, loss_of, seed)


def _pad(xy: torch.Tensor) -> torch.Tensor:
    """(B, A, 2) -> (B, A, 3): anchor_loss reads keypoints (B, K, 3)."""
    return torch.cat([xy, torch.zeros_like(xy[..., :1])], -1)


@torch.no_grad()
def score(net, clips, size: int) -> dict:
    out = {}
    errs = []
    per = {g: ([], []) for g in GAPS}
    for frames, target in clips:
        pred = anchors_of(net, to_float(frames))
        ok = torch.isfinite(target)
        errs.append(float(((pred - target).nan_to_num().norm(dim=-1) * ok.all(-1)).sum() / ok.all(-1).sum()) * size / 2)
        for g, (a, b) in GAPS.items():
            gt = (target[:, IDX[b], 1] - target[:, IDX[a], 1]).numpy() * size / 2
            pr = (pred[:, IDX[b], 1] - pred[:, IDX[a], 1]).numpy() * size / 2
            r, slope = estimator_probe.r_and_slope(gt - gt.mean(), pr - pr.mean())
            per[g][0].append(r)
            per[g][1].append(slope)
    for g, (rs, slopes) in per.items():
        out[g] = {"clip_r_mean": float(np.mean(rs)), "clip_slope_mean": float(np.mean(slopes))}
    out["anchor_error_px"] = float(np.mean(errs))
    return out


def main():
    ap = estimator_probe.parser(__doc__.splitlines()[0], "benchmarks/results/expression_probe.json")
    ap.add_argument("--variants", nargs="+", default=["3:4", "2:8", "heatmap"], help="headpose_levels:headpose_pool, or heatmap")
    a = ap.parse_args()
    cfg, m, optim = estimator_probe.setup(a)
    sizes = {k: getattr(m, k) for k in ("num_kp", "base", "headpose_stride", "depth", "keypoint_hourglass",
                                        "hourglass_levels", "hourglass_max", "hourglass_deep_skip")}
    train_clips = clip_arrays(FrameData(cfg.pack.out, "train", m.resolution))
    val_clips = clip_arrays(FrameData(cfg.pack.out, "val", m.resolution))
    results = {}
    for v in a.variants:
        t0 = time.perf_counter()
        r = score(train(v, train_clips, a.steps, a.batch, sizes, optim), val_clips, m.resolution)
        r["train_s"] = round(time.perf_counter() - t0, 1)
        results[v] = r
        print(f"{v}: " + "; ".join(
            f"{g} r {r[g]['clip_r_mean']:.2f} slope {r[g]['clip_slope_mean']:.2f}" for g in GAPS)
              + f"; anchor error {r['anchor_error_px']:.2f} px; {r['train_s']:.0f} s", flush=True)
    files.write_json(a.out, {"date": time.strftime("%Y-%m-%d"), "cpu": machine.cpu_model(), "profile": a.profile, "resolution": m.resolution,
                             "sizes": sizes, "steps": a.steps, "batch": a.batch, "threads": a.threads,
                             "val_clips": len(val_clips), "results": results})


if __name__ == "__main__":
    main()
