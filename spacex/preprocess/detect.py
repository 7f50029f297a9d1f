"""Face detection (facenet-pytorch MTCNN, weights inside its wheel) and one stable crop box per clip.

MTCNN runs on every `every`-th frame. A clip is rejected, with the reason, when no face is found on most
sampled frames, when the face is too small, or when a second face of comparable size and confidence is
present (which speaker would we animate?). The crop box is the median face box over the clip, squared and
widened by a margin, so the crop does not jitter with per-frame detection noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from spacex.errors import KitError


class SkipClip(KitError):
    """A clip that cannot be preprocessed; the message is the reason recorded in the skip report."""


@dataclass
class FaceTrack:
    box: np.ndarray  # (4,) x0, y0, x1, y1: stable square crop box in pixels (may extend past the frame)
    face_boxes: np.ndarray  # (T, 4) per-frame face boxes, interpolated between sampled frames
    face_size: float  # median face box side, pixels


@lru_cache(maxsize=2)
def _mtcnn(device: str):
    import torch
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device=torch.device(device), min_face_size=20, post_process=False)


def detect_faces(frames: np.ndarray, device: str = "cpu", batch: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """MTCNN on (N, H, W, 3) uint8, `batch` frames per pass (0: all) -> per frame (boxes (K, 4), probabilities (K,)),
    largest first."""
    import torch

    boxes, probs = [], []
    batch = batch if batch > 0 else max(len(frames), 1)
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            b, p = _mtcnn(device).detect(list(frames[i:i + batch]))
            boxes, probs = boxes + list(b), probs + list(p)
    out = []
    for b, p in zip(boxes, probs):
        if b is None:
            out.append((np.zeros((0, 4)), np.zeros(0)))
            continue
        b, p = np.asarray(b, np.float64), np.asarray(p, np.float64)  # MTCNN returns object arrays
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        order = np.argsort(-area)
        out.append((b[order], p[order]))
    return out


def track_face(frames: np.ndarray, every: int = 5, min_face: int = 40, min_prob: float = 0.9,
               second_face_ratio: float = 0.5, margin: float = 0.35, min_found: float = 0.5, device: str = "cpu",
               batch: int = 0) -> FaceTrack:
    """Detect on sampled frames of (T, H, W, 3) and derive the clip's stable crop box. Raises SkipClip."""
    T = len(frames)
    idx = np.unique(np.r_[np.arange(0, T, every), T - 1])
    dets = detect_faces(frames[idx], device, batch)
    found_idx, boxes = [], []
    for i, (b, p) in zip(idx, dets):
        keep = p >= min_prob
        b, p = b[keep], p[keep]
        if len(b) == 0:
            continue
        if len(b) > 1:
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            if area[1] >= second_face_ratio * area[0]:
                raise SkipClip(f"several faces: {len(b)} faces on frame {i}, the second "
                               f"{area[1] / area[0]:.0%} the size of the first")
        found_idx.append(i)
        boxes.append(b[0])
    if len(found_idx) < min_found * len(idx):
        raise SkipClip(f"no face: found on {len(found_idx)} of {len(idx)} sampled frames")
    boxes = np.array(boxes)
    sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    face_size = float(np.median(sides))
    if face_size < min_face:
        raise SkipClip(f"face too small: {face_size:.0f} px (minimum {min_face})")
    per_frame = np.stack([np.interp(np.arange(T), found_idx, boxes[:, k]) for k in range(4)], 1)
    centre = np.median((boxes[:, :2] + boxes[:, 2:]) / 2, axis=0)
    half = (1 + 2 * margin) * face_size / 2
    box = np.r_[centre - half, centre + half]
    return FaceTrack(box=box, face_boxes=per_frame, face_size=face_size)
