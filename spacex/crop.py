"""The face crop: one square box per clip (x0, y0, x1, y1 in photo pixels) sampled to S x S, with one
half-pixel convention for every module that maps between photo and crop pixels.

`crop_frames` samples with align_corners=False: crop pixel j (its centre) shows photo coordinate
x0 + (j + 0.5) * side / S - 0.5. `to_crop_pixels` and `photo_to_crop` are that mapping, for points and as an
image transform (paste-back); nothing else writes it out.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_crop_pixels(points: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Photo pixel coordinates (..., >=2) -> the (x, y) they have in `crop_frames`' output (..., 2).

    crop_frames samples with align_corners=False: crop pixel j shows photo x0 + (j + 0.5) * side / size - 0.5."""
    k = size / (box[2] - box[0])
    return (points[..., :2] - np.asarray(box[:2]) + 0.5) * k - 0.5


def crop_frames(frames: np.ndarray, box: np.ndarray, size: int) -> torch.Tensor:
    """(T, H, W, 3) uint8 + crop box -> (T, 3, size, size) uint8, edge-padded where the box leaves the frame."""
    T, H, W, _ = frames.shape
    x0, y0, x1, y1 = box
    t = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    theta = torch.tensor([[(x1 - x0) / W, 0, (x0 + x1) / W - 1], [0, (y1 - y0) / H, (y0 + y1) / H - 1]],
                         dtype=torch.float32)[None].expand(T, 2, 3)
    grid = F.affine_grid(theta, (T, 3, size, size), align_corners=False)
    out = F.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """The inverse of to_float for rendered frames: (T, 3, S, S) in [0, 1], any float dtype -> (T, S, S, 3) uint8."""
    return (x.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def photo_to_crop(box: np.ndarray, size: int):
    """The skimage AffineTransform from photo to crop pixel coordinates (the inverse maps a crop back)."""
    from skimage.transform import AffineTransform

    x0, y0, x1, y1 = box
    k = size / (x1 - x0)
    c = (k - 1) / 2  # = 0.5 * k - 0.5: the half-pixel offset of crop_frames
    return AffineTransform(scale=k, translation=(-x0 * k + c, -y0 * k + c))
