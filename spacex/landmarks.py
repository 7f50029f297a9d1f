"""The 68-point iBUG landmark layout, the normalized landmark space and head-pose rotations.

Conventions used everywhere in the kit (corpus ground truth, preprocessing, models):
- Image coordinates: x to the right, y down, in pixels. 3D landmarks add z pointing away from the
  camera (right-handed), in the same pixel units, so a nose tip has a smaller z than the ears.
- Head pose: (yaw, pitch, roll) in degrees, R = Rz(roll) @ Ry(yaw) @ Rx(pitch).
  Positive pitch moves the nose tip down (nod), positive yaw moves it towards image left, positive
  roll turns the face clockwise on screen.
- Normalized space (what Speech2Landmarks predicts in): frontal (pose removed), origin at the midpoint
  of the jaw-line end points 0 and 16 ("ears"), scaled so that |p0 - p16| = 1.
  Posed image landmarks: L = scale * (N @ R.T) + [tx, ty, 0].
"""
from __future__ import annotations

import numpy as np

N_LANDMARKS = 68
JAW = list(range(0, 17))
BROW_R, BROW_L = list(range(17, 22)), list(range(22, 27))  # subject's right brow appears on image left
NOSE_BRIDGE, NOSTRILS = list(range(27, 31)), list(range(31, 36))
EYE_R, EYE_L = list(range(36, 42)), list(range(42, 48))
LIPS_OUTER, LIPS_INNER = list(range(48, 60)), list(range(60, 68))
MOUTH = list(range(48, 68))
EARS = (0, 16)
# Inner-lip midpoints: the vertical gap 62 -> 66 is the mouth opening.
INNER_UPPER_MID, INNER_LOWER_MID = 62, 66

# Left-right mirror permutation of the 68 points (for horizontally flipped images).
MIRROR = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 21, -1)) + list(range(21, 16, -1))  # brows
    + [27, 28, 29, 30] + [35, 34, 33, 32, 31]  # nose
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def rotation_matrix(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Angles in degrees, any broadcastable shape (...,) -> rotation matrices (..., 3, 3)."""
    y, p, r = (np.deg2rad(np.asarray(a, np.float64)) for a in (yaw, pitch, roll))
    y, p, r = np.broadcast_arrays(y, p, r)
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    one, zero = np.ones_like(y), np.zeros_like(y)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(*y.shape, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*y.shape, 3, 3)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(*y.shape, 3, 3)
    return rz @ ry @ rx


def pose_landmarks(norm: np.ndarray, rotation: np.ndarray, translation: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Normalized (T, P, 3) -> image-space (T, P, 3).

    rotation (T, 3) degrees [yaw, pitch, roll]; translation (T, 2) pixels; scale (T,) pixels per unit.
    """
    R = rotation_matrix(rotation[:, 0], rotation[:, 1], rotation[:, 2])  # (T, 3, 3)
    posed = scale[:, None, None] * np.einsum("tpj,tij->tpi", norm, R)  # (T, P, 3)
    posed[..., :2] += translation[:, None, :]
    return posed


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip vertical gap (..., 68, D) -> (...,), in the landmarks' units."""
    return np.linalg.norm(landmarks[..., INNER_LOWER_MID, :2] - landmarks[..., INNER_UPPER_MID, :2], axis=-1)


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """Soukupova & Cech EAR for both eyes, (..., 68, D) -> (..., 2) [subject's right, left]."""
    out = []
    for e in (EYE_R, EYE_L):
        p = landmarks[..., e, :2]
        v = np.linalg.norm(p[..., 1, :] - p[..., 5, :], axis=-1) + np.linalg.norm(p[..., 2, :] - p[..., 4, :], axis=-1)
        h = np.linalg.norm(p[..., 0, :] - p[..., 3, :], axis=-1)
        out.append(v / (2 * h))
    return np.stack(out, -1)
