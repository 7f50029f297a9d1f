"""Gaze: where the irises sit in the eyes, and an iris detector.

Convention used everywhere in the kit (corpus ground truth, preprocessing, Landmarks2Latents, `spacex animate`):
gaze (..., 2) is the iris centre's offset from the midpoint of the eye corners, in units of the eye's width
(corner to corner), along the eye's own axes: x towards the image right (the subject's left), y down
(perpendicular to the corner line). Both eyes share one gaze (eyes move together). The eye's frame comes from
the 68-point corners (36-39, 42-45), so the number does not change with head roll, position or scale, and
head yaw shortens the iris offset and the eye width alike.

The detector (`detect`) is classical: each eye is resampled into a canonical patch (corners at fixed places),
and the iris is the least-squares fit of a dark disc of the expected size, seen through the lid outline,
against the eye's own sclera, refined to sub-pixel by a parabola through the fit's peak. It needs no weights,
so it runs offline; the paper uses a learned dense eye-landmark model instead (METHOD.md). Another detector
only has to return `IrisResult` to replace it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import draw

from spacex import landmarks as lm

# (image-left corner, image-right corner) of each eye: subject's right eye (36-41), then left (42-47).
CORNERS = ((36, 39), (42, 45))
IRIS_RADIUS = 0.21  # iris radius in eye widths (adult iris ~11.7 mm over a ~28 mm wide eye opening)
NAMED = {"center": (0.0, 0.0), "centre": (0.0, 0.0), "left": (-0.2, 0.0), "right": (0.2, 0.0),
         "up": (0.0, -0.08), "down": (0.0, 0.08)}  # image left / right: the viewer's
LIMITS = (0.3, 0.15)  # |x|, |y| in eye widths: beyond them the iris leaves the opening (it is ~0.3 high)
MIN_CONTRAST = 0.05  # iris darker than the sclera by at least this (grey levels 0..1), or no iris is seen


def eye_frames(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(..., 68, D) -> origin (..., 2, D), x axis (..., 2, 2), y axis (..., 2, 2), width (..., 2) per eye.

    Axes are unit vectors in the image plane; the origin keeps all D coordinates (z is the corners' mean)."""
    a = landmarks[..., [c[0] for c in CORNERS], :]
    b = landmarks[..., [c[1] for c in CORNERS], :]
    origin = (a + b) / 2
    d = b[..., :2] - a[..., :2]
    width = np.linalg.norm(d, axis=-1)
    x = d / np.maximum(width, 1e-9)[..., None]
    y = np.stack([-x[..., 1], x[..., 0]], -1)  # x rotated +90 deg: points down when x points right
    return origin, x, y, width


def iris_points(landmarks: np.ndarray, gaze: np.ndarray) -> np.ndarray:
    """Iris centres (..., 2, D) of both eyes for landmarks (..., 68, D) and gaze (..., 2)."""
    origin, x, y, w = eye_frames(landmarks)
    g = np.asarray(gaze, np.float64)[..., None, :]  # (..., 1, 2)
    offset = w[..., None] * (g[..., :1] * x + g[..., 1:] * y)  # (..., 2, 2)
    out = origin.astype(np.float64).copy()
    out[..., :2] += offset
    return out


def gaze_of(landmarks: np.ndarray, iris: np.ndarray) -> np.ndarray:
    """Per-eye gaze (..., 2, 2) [eye, (x, y)] of iris centres (..., 2, >=2) in landmarks' (..., 68, D) eyes."""
    origin, x, y, w = eye_frames(landmarks)
    d = iris[..., :2] - origin[..., :2]
    return np.stack([(d * x).sum(-1), (d * y).sum(-1)], -1) / w[..., None]


def parse(spec: str) -> tuple[float, float]:
    """'left' | 'right' | 'up' | 'down' | 'center' | 'X,Y' (eye widths) -> (x, y)."""
    s = spec.strip().lower()
    if s in NAMED:
        return NAMED[s]
    try:
        x, y = (float(v) for v in s.split(","))
    except ValueError:
        raise ValueError(f"gaze {spec!r}: expected one of {sorted(NAMED)} or 'X,Y' in eye widths") from None
    check(np.array([[x, y]]), f"gaze {spec!r}")
    return x, y


def check(gaze: np.ndarray, what: str) -> np.ndarray:
    """Refuse gaze values (N, 2) that are not finite or that would put the iris outside the eye opening."""
    if not np.isfinite(gaze).all():
        raise ValueError(f"{what}: gaze must be finite numbers")
    over = np.abs(gaze).max(0) > LIMITS
    if over.any():
        raise ValueError(f"{what}: |x| <= {LIMITS[0]} and |y| <= {LIMITS[1]} eye widths, or the iris would leave "
                         f"the eye (got up to {np.abs(gaze).max(0).round(3).tolist()})")
    return gaze


# ---------------------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------------------

# The canonical eye patch: eye-width units mapped to pixels, corners at (+-0.5, 0).
_PX = 24  # pixels per eye width
_HALF_W, _HALF_H = 0.75, 0.375  # patch half extent in eye widths (36 x 18 pixels)


@dataclass
class IrisResult:
    iris: np.ndarray  # (T, 2, 2) iris centres in image pixels [eye, (x, y)], NaN where not found
    gaze: np.ndarray  # (T, 2) gaze (both eyes' mean), filled over closed-eye frames from their neighbours
    valid: np.ndarray  # (T,) bool: at least one eye open enough to see its iris


def _patch(gray: np.ndarray, origin: np.ndarray, x: np.ndarray, w: float) -> np.ndarray:
    """Resample the eye around `origin` into the canonical patch (H, W): patch (u, v) -> image point."""
    n_u, n_v = round(2 * _HALF_W * _PX), round(2 * _HALF_H * _PX)
    u = (np.arange(n_u) + 0.5) / _PX - _HALF_W  # eye widths
    v = (np.arange(n_v) + 0.5) / _PX - _HALF_H
    uu, vv = np.meshgrid(u, v)
    y = np.array([-x[1], x[0]])
    px = origin[0] + w * (uu * x[0] + vv * y[0])
    py = origin[1] + w * (uu * x[1] + vv * y[1])
    return ndimage.map_coordinates(gray, [py, px], order=1, mode="nearest")


def _canonical(points: np.ndarray, origin: np.ndarray, x: np.ndarray, w: float) -> np.ndarray:
    """Image points (N, 2) -> canonical patch pixel coordinates (N, 2) as (col, row)."""
    y = np.array([-x[1], x[0]])
    d = points - origin
    return np.stack([(d @ x) / w + _HALF_W, (d @ y) / w + _HALF_H], -1) * _PX - 0.5


def _iris_in_patch(patch: np.ndarray, outline: np.ndarray) -> np.ndarray | None:
    """The iris centre (col, row) in a canonical patch, or None when the lids hide it.

    Least-squares fit of a dark disc of the expected radius, seen only through the lid outline: for a centre c
    the model's squared error is const - D (2 <dark, disc_c> - D |disc_c inside the outline|), with D the iris's
    darkness. Maximizing plain overlap instead would pull a half-covered iris towards the opening's middle."""
    mask = draw.polygon2mask(patch.shape, outline[:, ::-1]).astype(float)
    r = IRIS_RADIUS * _PX
    if mask.sum() < 0.25 * np.pi * r ** 2:  # lids (nearly) closed: no iris to see
        return None
    inside = patch[mask > 0]
    dark = np.clip(np.percentile(inside, 90) - patch, 0, None) * mask  # darkness against this eye's sclera
    D = np.percentile(dark[mask > 0], 90)
    if D < MIN_CONTRAST:  # a uniform (blurred, shaded, covered) eye: no iris to fit
        return None
    rr = int(np.ceil(r))
    yy, xx = np.mgrid[-rr:rr + 1, -rr:rr + 1]
    disc = np.clip(r + 0.5 - np.hypot(xx, yy), 0, 1)  # anti-aliased disc
    score = 2 * ndimage.correlate(dark, disc, mode="constant") - D * ndimage.correlate(mask, disc, mode="constant")
    score[mask == 0] = -np.inf  # the centre lies inside the opening
    cy, cx = np.unravel_index(np.argmax(score), score.shape)
    return np.array([cx + _vertex(score[cy, cx - 1: cx + 2]), cy + _vertex(score[cy - 1: cy + 2, cx])])


def _vertex(s3: np.ndarray) -> float:
    """Sub-pixel offset of a parabola's peak through three samples around a maximum (0 at an edge)."""
    if len(s3) != 3 or not np.isfinite(s3).all():
        return 0.0
    den = s3[0] - 2 * s3[1] + s3[2]
    return float(np.clip(0.5 * (s3[0] - s3[2]) / den, -0.5, 0.5)) if den < 0 else 0.0


def detect(frames: np.ndarray, landmarks: np.ndarray, smoothing: float = 0.0) -> IrisResult:
    """Iris centres and gaze for RGB frames (T, H, W, 3) uint8 with their 68 landmarks (T, 68, >=2) in pixels.

    `smoothing` (frames, Gaussian sigma) steadies the eye frames of a video before the irises are read in them:
    landmark jitter moves the eye frame, not the iris. On SynthTalk with dlib's landmarks, 1 frame raises the
    correlation with the true gaze from 0.79 to 0.83 (x) and from 0.52 to 0.64 (y)."""
    T = len(frames)
    iris = np.full((T, 2, 2), np.nan)
    gaze_eye = np.full((T, 2, 2), np.nan)
    pts = landmarks[..., :2].astype(np.float64)
    if smoothing > 0 and T > 1:
        pts = ndimage.gaussian_filter1d(pts, smoothing, axis=0, mode="nearest")
    origin, xs, _, width = eye_frames(pts)
    for t in range(T):
        gray = frames[t].astype(np.float64).mean(-1) / 255.0
        for e, idx in enumerate((lm.EYE_R, lm.EYE_L)):
            o, x, w = origin[t, e], xs[t, e], width[t, e]
            if w < 2.0:  # an eye narrower than 2 px has no visible iris
                continue
            patch = _patch(gray, o, x, w)
            found = _iris_in_patch(patch, _canonical(pts[t, idx], o, x, w))
            if found is None:
                continue
            col, row = found
            u, v = (col + 0.5) / _PX - _HALF_W, (row + 0.5) / _PX - _HALF_H  # eye widths
            gaze_eye[t, e] = (u, v)
            iris[t, e] = o + w * (u * x + v * np.array([-x[1], x[0]]))
    seen = ~np.isnan(gaze_eye[..., 0])  # (T, 2) eyes whose iris was found
    valid = seen.any(1)
    gaze = np.where(seen[..., None], gaze_eye, 0).sum(1) / np.maximum(seen.sum(1), 1)[:, None]  # (T, 2) eye mean
    return IrisResult(iris, fill_gaps(gaze, valid), valid)


def fill_gaps(gaze: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Interpolate gaze (T, 2) over invalid frames (closed eyes) from the valid ones; zeros if none is valid."""
    if not valid.any():
        return np.zeros_like(gaze)
    t = np.arange(len(gaze))
    return np.stack([np.interp(t, t[valid], gaze[valid, k]) for k in range(2)], -1)
