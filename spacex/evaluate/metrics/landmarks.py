"""Landmark metrics on the 68-point iBUG layout (spacex.landmarks): LMD, blink rate, head-pose statistics, jitter.

Landmarks are (T, 68, 2) image pixels (a 3D (T, 68, 3) array is accepted; only x, y are used unless stated).
Frames where the detector found no face are NaN rows: every metric skips them (a frame pair, triple or run
touching a NaN frame does not count) and returns NaN when nothing is left.
Pixel-valued results depend on the crop resolution, which the caller fixes and reports.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from spacex import landmarks as lm

REGIONS = {"mouth": lm.MOUTH, "face": list(range(lm.N_LANDMARKS))}
OUTER_EYE_CORNERS = (36, 45)  # the 300-W inter-ocular normalisation


class Detected(NamedTuple):
    points: np.ndarray  # (T, 68, 2) float64 pixels; NaN rows where no face was found
    missing: int  # number of such frames


def detect_landmarks(frames: np.ndarray) -> Detected:
    """dlib 68-point landmarks per frame of (T, H, W, 3) uint8 RGB face crops.

    The kit's own detector (HOG + shape predictor from the face-recognition-models wheel, the models the corpus
    and the `dlib` preprocess backend use), run independently on each frame with the most confident face kept:
    no tracking or fallback box, so a miss is reported as a NaN row rather than hidden.
    """
    from spacex.dlib_face import PortraitError, detect_landmarks_dlib

    out = np.full((len(frames), lm.N_LANDMARKS, 2), np.nan)
    for t, frame in enumerate(frames):
        try:
            out[t] = detect_landmarks_dlib(frame)
        except PortraitError:  # no face on this frame
            pass
    return Detected(out, int(np.isnan(out[:, 0, 0]).sum()))


def _valid(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, D) -> (T,) bool: frames with every coordinate finite."""
    return np.isfinite(landmarks).all(axis=(1, 2))


def lmd(gen_lm: np.ndarray, gt_lm: np.ndarray, region: str = "mouth") -> float:
    """Landmark distance (pixels at the caller's resolution) between (T, 68, 2) generated and ground-truth sets.

    region 'mouth' (points 48-67) or 'face' (all 68). Per frame each set is centred on the centroid of its own
    region points, so a global offset between the videos does not count; then the Euclidean distance is averaged
    over points and frames (frames where either side is NaN are left out).
    """
    if region not in REGIONS:
        raise ValueError(f"region must be one of {sorted(REGIONS)}, got {region!r}")
    if gen_lm.shape[0] != gt_lm.shape[0]:
        raise ValueError(f"frame counts differ: {gen_lm.shape[0]} generated vs {gt_lm.shape[0]} ground truth")
    idx = REGIONS[region]
    a, b = gen_lm[:, idx, :2], gt_lm[:, idx, :2]  # (T, P, 2)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    d = np.linalg.norm(a - b, axis=-1)  # (T, P)
    ok = np.isfinite(d).all(1)
    return float(d[ok].mean()) if ok.any() else float("nan")


def _pose_fit(landmarks: np.ndarray):
    """Valid frames of (T, 68, 2|3) -> (3D landmarks (V, 68, 3), Pose) with the kit's fit (weak-perspective lift
    of 2D points, then the similarity fit of the mean shape to the rigid points)."""
    from spacex.preprocess import pose

    pts = landmarks if landmarks.shape[-1] == 3 else pose.lift_to_3d(landmarks)
    return pts, pose.fit_pose(pts)


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2|3) landmarks -> (T, 2) eye aspect ratios [subject's right eye, left eye] in the frontalized space
    (so head rotation does not read as a closing eye; spacex.preprocess.eyes), NaN rows on frames without a face."""
    from spacex.preprocess import eyes, pose

    out = np.full((len(landmarks), 2), np.nan)
    ok = _valid(landmarks)
    if ok.any():
        pts, fit = _pose_fit(landmarks[ok])
        out[ok] = eyes.openness(pose.normalize(pts, fit))
    return out


def blink_rate(landmarks: np.ndarray, fps: float, ratio: float = 0.6, max_seconds: float = 0.6) -> float:
    """Blinks per minute of (T, 68, 2|3) landmarks.

    The preprocessing definition (spacex.preprocess.eyes): eye aspect ratio in the frontalized space (so head
    rotation does not read as a blink), a blink = a run of frames whose mean EAR is below `ratio` times the clip's
    open-eye level (its 90th percentile), at most `max_seconds` long. NaN frames count as open and the rate is
    over the duration of the valid frames.
    """
    from spacex.preprocess import eyes

    ear = eye_openness(landmarks)  # (T, 2)
    ok = np.isfinite(ear).all(1)
    if not ok.any():
        return float("nan")
    ear[~ok] = np.percentile(ear[ok], 90, axis=0)  # open: the level the threshold is taken against
    _, events = eyes.detect_blinks(ear, fps, ratio, max_seconds)
    return len(events) / (ok.sum() / fps / 60.0)


def blink_depth(landmarks: np.ndarray, closure: np.ndarray, closed: float = 0.7, opened: float = 0.05) -> float:
    """How far the eyes close where the ground truth blinks: 1 - (mean EAR on the frames whose true eye closure
    is above `closed`) / (mean EAR where it is below `opened`), from (T, 68, 2|3) landmarks and the corpus's (T,)
    eye-closure track (0 open .. 1 closed), frame for frame. About 0 for eyes that never close; the ground
    truth's own value is the detector's reading of a real blink (dlib on SynthTalk at 128 px: about 0.26, where
    its blink_rate finds 1 of the 8 blinks of the test clips). NaN when no frame is closed, or none open."""
    ear = eye_openness(landmarks).mean(1)  # (T,)
    closure = np.asarray(closure, np.float64)
    shut, open_ = np.isfinite(ear) & (closure > closed), np.isfinite(ear) & (closure < opened)
    if not shut.any() or not open_.any():
        return float("nan")
    return float(1 - ear[shut].mean() / ear[open_].mean())


def _angles(Ra: np.ndarray, Rb: np.ndarray) -> np.ndarray:
    """Geodesic angles (N,) in degrees between rotations (N, 3, 3) pairwise: the angle of Ra^T Rb (NaN stays NaN)."""
    cos = (np.trace(np.einsum("tji,tjk->tik", Ra, Rb), axis1=1, axis2=2) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def pose_stats(landmarks: np.ndarray, fps: float) -> dict[str, float]:
    """Head-pose statistics of (T, 68, 2|3) landmarks, using the kit's pose fit (spacex.preprocess.pose).

    yaw_std, pitch_std, roll_std: degrees, over valid frames. angular_speed: mean geodesic angle between
    consecutive valid frames' rotations, deg/s (pairs with a NaN frame are skipped). Per-frame landmark noise
    adds to the speed (0.5 px noise on a 120 px face: 20 -> 31 deg/s), so compare methods under one detector.
    """
    ok = _valid(landmarks)
    out = {"yaw_std": np.nan, "pitch_std": np.nan, "roll_std": np.nan, "angular_speed": np.nan}
    if not ok.any():
        return out
    _, fit = _pose_fit(landmarks[ok])
    out.update(zip(("yaw_std", "pitch_std", "roll_std"), fit.rotation.std(0)))
    R = np.full((len(landmarks), 3, 3), np.nan)
    R[ok] = fit.matrices()
    step = _angles(R[:-1], R[1:])  # (T - 1,) degrees; NaN where a frame is missing
    step = step[np.isfinite(step)]
    if len(step):
        out["angular_speed"] = step.mean() * fps
    return {k: float(v) for k, v in out.items()}


def pose_error(gen_lm: np.ndarray, gt_lm: np.ndarray) -> float:
    """Head-pose error of aligned (T, 68, 2|3) landmarks against the ground truth's: the mean geodesic angle
    between the two frames' rotations (the kit's pose fit), degrees, over frames valid in both. Low when a method
    renders the ground truth's head motion (pose transferred from it); a still photo scores the motion itself."""
    ok = _valid(gen_lm) & _valid(gt_lm)
    if not ok.any():
        return float("nan")
    Rg, Rt = _pose_fit(gen_lm[ok])[1].matrices(), _pose_fit(gt_lm[ok])[1].matrices()  # (V, 3, 3) each
    return float(_angles(Rg, Rt).mean())


def jitter(landmarks: np.ndarray, fps: float) -> float:
    """Temporal instability: mean |second difference| of all 68 points of (T, 68, 2) landmarks, in inter-ocular
    distances per s^2 (second difference x fps^2; IOD = the clip's median outer-eye-corner distance).

    Smooth motion gives little acceleration, frame-to-frame detector or rendering noise a lot. Triples touching a
    NaN frame are skipped.
    """
    x = landmarks[..., :2]
    acc = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1)  # (T - 2, 68)
    ok = np.isfinite(acc).all(1)
    if not ok.any():
        return float("nan")
    iod = np.nanmedian(np.linalg.norm(x[:, OUTER_EYE_CORNERS[1]] - x[:, OUTER_EYE_CORNERS[0]], axis=-1))
    return float(acc[ok].mean() * fps ** 2 / iod)
