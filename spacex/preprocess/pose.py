"""Head pose from 68 3D landmarks, and the normalized space S2L predicts in.

    fit = fit_pose(landmarks)                  # (T, 68, 3) image-space -> rotation, translation, scale
    norm = normalize(landmarks, fit)           # frontal, ears 1 apart, origin between the ears
    back = pose(norm, fit)                     # == landmarks (exact round trip)

Pose is a similarity fit (Umeyama 1991) of a generic 3D mean shape to the rigid landmarks (upper jaw, nose,
eye corners), which mouth and brow motion do not move. Normalization then applies the inverse pose to all
68 points and re-centres/re-scales on the ears; that last step is folded into the stored translation and
scale, so `pose(normalize(L))` returns L to float precision. For 2D detectors, `lift_to_3d` fits a
weak-perspective pose of the mean shape and borrows its depth.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from spacex import landmarks as lm

# Points that facial expressions and speech barely move.
RIGID = [0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45]


@lru_cache(maxsize=1)
def mean_shape() -> np.ndarray:
    """Generic 3D 68-point face (68, 3) in the normalized space (see spacex/data/README.md)."""
    text = resources.files("spacex.data").joinpath("mean_shape_68.json").read_text()
    return np.asarray(json.loads(text)["points"], np.float64)


@dataclass
class Pose:
    rotation: np.ndarray  # (T, 3) degrees [yaw, pitch, roll] (convention: spacex.landmarks)
    translation: np.ndarray  # (T, 3) pixels: image position of the normalized origin (z included)
    scale: np.ndarray  # (T,) pixels per normalized unit

    def matrices(self) -> np.ndarray:
        return lm.rotation_matrix(self.rotation[:, 0], self.rotation[:, 1], self.rotation[:, 2])  # (T, 3, 3)


def angles_from_matrix(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) with R = Rz(roll) Ry(yaw) Rx(pitch) -> (..., 3) degrees [yaw, pitch, roll]."""
    zyx = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_euler("ZYX", degrees=True)  # [roll, yaw, pitch]
    return zyx[:, [1, 2, 0]].reshape(*R.shape[:-2], 3)


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares similarity dst ~ s R src + t for point sets (N, 3). Returns R (3, 3), s, t (3,)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U) * np.linalg.det(Vt))
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a ** 2).sum(1).mean())
    return R, s, mu_d - s * R @ mu_s


def lift_to_3d(points2d: np.ndarray) -> np.ndarray:
    """2D landmarks (T, 68, 2) -> (T, 68, 3): depth from a weak-perspective fit of the mean shape."""
    M = mean_shape()
    out = np.empty(points2d.shape[:-1] + (3,))
    Mh = np.concatenate([M[RIGID], np.ones((len(RIGID), 1))], 1)  # (P, 4)
    for t, p in enumerate(points2d):
        A = np.linalg.lstsq(Mh, p[RIGID], rcond=None)[0].T  # (2, 4): affine camera
        U, S, Vt = np.linalg.svd(A[:, :3], full_matrices=False)
        R2 = U @ Vt  # closest 2 x 3 with orthonormal rows
        R = np.vstack([R2, np.cross(R2[0], R2[1])])
        s = S.mean()
        z = s * (M @ R[2])  # depth of the posed mean shape at each landmark
        out[t, :, :2] = p
        out[t, :, 2] = z - z[list(lm.EARS)].mean()
    return out


def fit_pose(landmarks: np.ndarray, smoothing: float = 0.0) -> Pose:
    """Per-frame pose of (T, 68, 3) image-space landmarks. `smoothing`: Gaussian sigma in frames (0 = off)."""
    M = mean_shape()[RIGID]
    T = len(landmarks)
    Rs, ss, ts = np.empty((T, 3, 3)), np.empty(T), np.empty((T, 3))
    for t in range(T):
        Rs[t], ss[t], ts[t] = umeyama(M, landmarks[t, RIGID])
    if smoothing > 0 and T > 1:
        # Smooth rotations as quaternions (sign-aligned), then translation and log-scale.
        q = Rotation.from_matrix(Rs).as_quat()
        q *= np.sign((q * q[:1]).sum(1, keepdims=True))
        q = gaussian_filter1d(q, smoothing, axis=0, mode="nearest")
        Rs = Rotation.from_quat(q / np.linalg.norm(q, axis=1, keepdims=True)).as_matrix()
        ts = gaussian_filter1d(ts, smoothing, axis=0, mode="nearest")
        ss = np.exp(gaussian_filter1d(np.log(ss), smoothing, mode="nearest"))
    # Fold the ear-based centring and scaling of the normalized space into the pose.
    frontal = np.einsum("tij,tpi->tpj", Rs, landmarks - ts[:, None]) / ss[:, None, None]  # R^T (L - t) / s
    centre = (frontal[:, 0] + frontal[:, 16]) / 2  # (T, 3)
    ears = np.linalg.norm(frontal[:, 16] - frontal[:, 0], axis=-1)  # (T,)
    ts = ts + ss[:, None] * np.einsum("tij,tj->ti", Rs, centre)
    ss = ss * ears
    return Pose(rotation=angles_from_matrix(Rs), translation=ts, scale=ss)


def normalize(landmarks: np.ndarray, p: Pose) -> np.ndarray:
    """Image-space (T, 68, 3) -> normalized (T, 68, 3) with the given pose."""
    R = p.matrices()
    return np.einsum("tij,tpi->tpj", R, landmarks - p.translation[:, None]) / p.scale[:, None, None]


def pose(norm: np.ndarray, p: Pose) -> np.ndarray:
    """Normalized (T, P, 3) -> image-space (T, P, 3): the exact inverse of `normalize`."""
    R = p.matrices()
    return p.scale[:, None, None] * np.einsum("tij,tpj->tpi", R, norm) + p.translation[:, None]
