"""Stage `keypoints`: every clip's face-vid2vid keypoints, extracted with the trained (frozen) renderer: what
Landmarks2Latents learns to predict.

    spacex keypoints [--profile smoke]

Per clip (all splits) `<fv2v.keypoints>/<clip>.npz`: `driving` (T, K, 3) every frame's keypoints, `source`
(K, 3) frame 0's, `canonical` (K, 3) frame 0's canonical keypoints; frames from the store's pack (cut with the clip's crop box).
A separate stage from `train_fv2v`, so the renderer (trained once, versioned in the DVC remote) stays untouched
when only the store or this step changes.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from spacex import devices, files
from spacex.checkpoint import load_model
from spacex.config import Config
from spacex.crop import to_float
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.train.fv2v import FrameData


@torch.no_grad()
def extract_keypoints(cfg: Config, device: str = "auto", batch: int = 32) -> dict:
    """Every clip's keypoints, `batch` frames per forward pass on `device` (spacex.devices)."""
    device = devices.resolve(device)
    model, _ = load_model(Path(cfg.fv2v.out) / "last.pt", FaceVid2Vid, device)
    out = Path(cfg.fv2v.keypoints)
    out.mkdir(parents=True, exist_ok=True)
    clips = n_frames = 0
    for split in ("train", "val", "test"):
        try:
            data = FrameData(cfg.pack.out, split, model.args.resolution)
        except ValueError:  # no clip of this split
            continue
        for c in data.clips:
            frames = data.frames(c)  # (T, 3, S, S) uint8, from the store's pack
            src = model.source_features(to_float(frames[:1]).to(device))
            kps = torch.cat([model.keypoints_of(src["kp_canonical"], to_float(frames[t:t + batch]).to(device))
                             for t in range(0, len(frames), batch)])  # (T, K, 3)
            with files.atomic_path(out / f"{c['clip_id']}.npz") as tmp:
                np.savez(tmp, driving=kps.cpu().numpy(), source=src["kp"][0].cpu().numpy(),
                         canonical=src["kp_canonical"][0].cpu().numpy())
            clips, n_frames = clips + 1, n_frames + len(frames)
    return {"clips": clips, "frames": n_frames, "device": str(device)}


def main(cfg: Config, report_dir: str | Path | None = None, device: str = "auto") -> dict:
    t0 = time.perf_counter()
    summary = extract_keypoints(cfg, device)
    seconds = round(time.perf_counter() - t0, 1)
    if report_dir:  # the wall time apart: the summary repeats byte for byte, run after run
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        files.write_json(Path(report_dir) / "summary.json", summary)
        files.write_json(Path(report_dir) / "timing.json", {"seconds": seconds})
    return summary | {"seconds": seconds}
