"""A parametric 3D face: identity shape, visemes, emotional expressions, blinks and head motion.

Everything happens in the kit's normalized landmark space (see `spacex.landmarks`): frontal, ears at
(-0.5, y, z) and (0.5, y, z). Motion is a sum of hand-built "action units", each a displacement field
over the 68 points scaled by a weight:
- visemes driven by the phoneme timeline with Cohen-Massaro dominance coarticulation,
- expressions for six emotions scaled by an intensity,
- blinks (upper lids onto lower lids) at a natural rate,
- gaze: fixations and saccades of the irises (drawn by the renderer).
Head pose is smooth random motion plus nods on stressed syllables.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from spacex import landmarks as lm
from spacex.motion import LOWER_LIDS as _LOWER_LIDS
from spacex.motion import UPPER_LIDS as _UPPER_LIDS
from spacex.motion import blink_track, close_eyes, gaze_track, smooth_noise

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "angry")

# ---------------------------------------------------------------------------------------------------------
# Identity shape
# ---------------------------------------------------------------------------------------------------------


def normalize_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Image landmarks (68, 2) -> (normalized (68, 2), centre px, scale px, roll deg)."""
    centre = (points[0] + points[16]) / 2
    d = points[16] - points[0]
    scale = float(np.hypot(*d))
    roll = float(np.degrees(np.arctan2(d[1], d[0])))
    c, s = np.cos(np.radians(-roll)), np.sin(np.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    return ((points - centre) / scale) @ rot.T, centre, scale, roll


def template_depth(xy: np.ndarray) -> np.ndarray:
    """Plausible z (away from camera) for normalized 2D landmarks: an ellipsoidal head plus a nose."""
    x, y = xy[:, 0], xy[:, 1]
    z = -0.42 * np.sqrt(np.clip(1 - (x / 0.56) ** 2 - ((y - 0.12) / 0.95) ** 2, 0, 1))
    z[lm.NOSE_BRIDGE] -= np.array([0.02, 0.06, 0.10, 0.15])
    z[lm.NOSTRILS] -= np.array([0.03, 0.05, 0.07, 0.05, 0.03])
    z[lm.EYE_R + lm.EYE_L] += 0.03
    z[lm.MOUTH] -= 0.03
    return z - (z[0] + z[16]) / 2  # ears at z = 0


@dataclass
class Identity:
    """A person: a neutral normalized 3D shape and how strongly they articulate and move."""

    neutral: np.ndarray  # (68, 3), normalized
    articulation: float  # scales viseme amplitude
    expressivity: float  # scales expression amplitude
    motion: float  # scales head-motion amplitude


def make_identity(portrait_landmarks: np.ndarray, rng: np.random.Generator, vary: bool = True) -> Identity:
    """Neutral shape from a portrait's 2D landmarks, with a closed mouth and optional random variation."""
    xy, _, _, _ = normalize_2d(portrait_landmarks)
    xy = xy.copy()
    # Close the mouth: both inner lips meet on the line between the portrait's inner lips.
    mid = (xy[[61, 62, 63]] + xy[[67, 66, 65]]) / 2
    xy[[61, 62, 63]] = mid
    xy[[67, 66, 65]] = mid
    if vary:
        k = lambda s: float(rng.normal(0, s))  # noqa: E731
        chin = np.array(lm.JAW[3:14])
        xy[chin, 1] *= 1 + k(0.06)  # face length
        eyes = np.array(lm.EYE_R + lm.EYE_L)
        eye_c = xy[eyes].mean(0)
        xy[eyes, 0] = eye_c[0] + (xy[eyes, 0] - eye_c[0]) * (1 + k(0.05))  # eye spacing
        f_eye = 1 + k(0.08)  # eye size, same for both eyes
        for e in (lm.EYE_R, lm.EYE_L):
            c = xy[e].mean(0)
            xy[e] = c + (xy[e] - c) * f_eye
        xy[lm.NOSE_BRIDGE + lm.NOSTRILS, 1] += k(0.02)  # nose length
        m = np.array(lm.MOUTH)
        mc = xy[m].mean(0)
        xy[m, 0] = mc[0] + (xy[m, 0] - mc[0]) * (1 + k(0.07))  # mouth width
        xy[m, 1] = mc[1] + (xy[m, 1] - mc[1]) * (1 + k(0.10))  # lip thickness
        xy[lm.BROW_R + lm.BROW_L, 1] += k(0.015)  # brow height
    neutral = np.concatenate([xy, template_depth(xy)[:, None]], 1)
    # Re-normalize exactly: ears at distance 1, origin between them.
    neutral -= (neutral[0] + neutral[16]) / 2
    neutral /= np.linalg.norm(neutral[16] - neutral[0])
    return Identity(
        neutral=neutral,
        articulation=float(rng.uniform(0.85, 1.15)) if vary else 1.0,
        expressivity=float(rng.uniform(0.8, 1.2)) if vary else 1.0,
        motion=float(rng.uniform(0.7, 1.3)) if vary else 1.0,
    )


# ---------------------------------------------------------------------------------------------------------
# Action units: displacement fields (68, 3) of a unit weight, in normalized units
# ---------------------------------------------------------------------------------------------------------


def _du(idx, dx=0.0, dy=0.0, dz=0.0) -> np.ndarray:
    d = np.zeros((68, 3))
    d[idx] += np.array([dx, dy, dz])
    return d


_CORNER_R, _CORNER_L = [48, 60], [54, 64]
_UPPER_LIP, _LOWER_LIP = [49, 50, 51, 52, 53, 61, 62, 63], [55, 56, 57, 58, 59, 65, 66, 67]


def _jaw_open() -> np.ndarray:
    d = np.zeros((68, 3))
    w = np.zeros(68)
    w[lm.JAW] = [0, 0.05, 0.15, 0.35, 0.6, 0.8, 0.92, 1, 1, 1, 0.92, 0.8, 0.6, 0.35, 0.15, 0.05, 0]
    w[_LOWER_LIP] = 1.0
    w[_CORNER_R + _CORNER_L] = 0.45
    d[:, 1] = 0.16 * w
    d[:, 2] = 0.03 * w  # the chin swings back a little
    d[[61, 62, 63], 1] -= 0.01  # upper lip lifts slightly
    return d


AU = {
    # visemes
    "jaw_open": _jaw_open(),
    "round": _du(_CORNER_R, dx=0.055) + _du(_CORNER_L, dx=-0.055) + _du(lm.MOUTH, dz=-0.05)
    + _du([61, 62, 63], dy=-0.012) + _du([65, 66, 67], dy=0.012),
    "spread": _du(_CORNER_R, dx=-0.03, dy=-0.008) + _du(_CORNER_L, dx=0.03, dy=-0.008),
    "lower_lip_up": _du([55, 56, 57, 58, 59, 65, 66, 67], dy=-0.03, dz=0.02),  # f/v: lip to the upper teeth
    # expressions
    "smile": _du(_CORNER_R, dx=-0.045, dy=-0.04) + _du(_CORNER_L, dx=0.045, dy=-0.04)
    + _du([49, 53, 50, 52], dy=-0.012) + _du(_LOWER_LIDS, dy=-0.008),
    "corners_down": _du(_CORNER_R + _CORNER_L, dy=0.035) + _du([57, 66], dy=0.008),
    "brow_raise": _du(lm.BROW_R + lm.BROW_L, dy=-0.07),
    "brow_inner_raise": _du([20, 21, 22, 23], dy=-0.06) + _du([19, 24], dy=-0.03),
    "brow_lower": _du(lm.BROW_R + lm.BROW_L, dy=0.035) + _du([19, 20, 21], dx=0.02) + _du([22, 23, 24], dx=-0.02),
    "eye_widen": _du(_UPPER_LIDS, dy=-0.022),
    "eye_narrow": _du(_UPPER_LIDS, dy=0.01) + _du(_LOWER_LIDS, dy=-0.008),
    "lip_stretch": _du(_CORNER_R, dx=-0.04, dy=0.01) + _du(_CORNER_L, dx=0.04, dy=0.01),
    "lip_press": _du([49, 50, 51, 52, 53], dy=0.01) + _du([55, 56, 57, 58, 59], dy=-0.01),
}

# Expression = action-unit weights at intensity 1 (FACS-style prototypes, e.g. happy = AU6 + AU12).
EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"smile": 1.0, "eye_narrow": 0.5, "brow_raise": 0.1},
    "sad": {"brow_inner_raise": 1.0, "corners_down": 1.0, "eye_narrow": 0.3},
    "surprise": {"brow_raise": 1.0, "eye_widen": 1.0, "jaw_open": 0.15},
    "fear": {"brow_raise": 0.5, "brow_inner_raise": 0.7, "eye_widen": 1.0, "lip_stretch": 1.0, "jaw_open": 0.12},
    "angry": {"brow_lower": 1.0, "eye_narrow": 0.7, "lip_press": 1.0},
}

# ---------------------------------------------------------------------------------------------------------
# Visemes from phonemes (espeak-ng mnemonics) with Cohen-Massaro coarticulation
# ---------------------------------------------------------------------------------------------------------

VISEME_KEYS = ("jaw_open", "round", "spread", "lower_lip_up", "closure")

# phoneme class -> (targets for VISEME_KEYS, dominance). High dominance = the articulation is always reached.
_VISEME_CLASSES = {
    "open": ((0.85, 0.0, 0.0, 0.0, 0.0), 0.6),
    "mid": ((0.5, 0.0, 0.15, 0.0, 0.0), 0.5),
    "mid_round": ((0.5, 0.6, 0.0, 0.0, 0.0), 0.6),
    "close_spread": ((0.2, 0.0, 0.9, 0.0, 0.0), 0.6),
    "close_round": ((0.15, 1.0, 0.0, 0.0, 0.0), 0.8),
    "bilabial": ((0.05, 0.0, 0.0, 0.0, 1.0), 1.0),
    "labiodental": ((0.1, 0.0, 0.0, 1.0, 0.3), 0.9),
    "sibilant": ((0.08, 0.0, 0.4, 0.0, 0.0), 0.5),
    "dental": ((0.15, 0.0, 0.1, 0.0, 0.0), 0.4),
    "consonant": ((0.22, 0.0, 0.0, 0.0, 0.0), 0.15),
    "rest": ((0.0, 0.0, 0.0, 0.0, 0.3), 0.35),
}
_PHONEME_CLASS = {
    **dict.fromkeys(["a", "aI", "aU", "A:", "A@", "V", "0", "a#", "&", "aI@", "aU@", "e@"], "open"),
    **dict.fromkeys(["E", "e", "eI", "@", "3", "3:", "@2", "@5", "@L", "I2", "i@", "i@3", "a2"], "mid"),
    **dict.fromkeys(["O", "O:", "O@", "oU", "OI", "o@", "U@", "0@"], "mid_round"),
    **dict.fromkeys(["i", "i:", "I", "I#", "j", ";"], "close_spread"),
    **dict.fromkeys(["u:", "U", "w", "W", "u"], "close_round"),
    **dict.fromkeys(["p", "b", "m"], "bilabial"),
    **dict.fromkeys(["f", "v"], "labiodental"),
    **dict.fromkeys(["s", "z", "S", "Z", "tS", "dZ"], "sibilant"),
    **dict.fromkeys(["T", "D"], "dental"),
    **dict.fromkeys(["_", "_:", "_!", "_|", "||", "|"], "rest"),
}


def phoneme_class(symbol: str) -> str:
    s = symbol.strip("',%=")
    return _PHONEME_CLASS.get(s, "rest" if s.startswith("_") else "consonant")


def viseme_track(phonemes: list[tuple[str, float, float]], times: np.ndarray, theta: float = 25.0) -> np.ndarray:
    """Coarticulated viseme weights (T, 5) at `times` (s) from (symbol, start, end) phonemes.

    Cohen & Massaro (1993): each segment's target is blended by a dominance that is maximal inside the
    segment and decays exponentially (rate `theta` per second) with distance from it.
    """
    if not phonemes:
        return np.zeros((len(times), len(VISEME_KEYS)))
    targets, weights = [], []
    for sym, start, end in phonemes:
        target, dom = _VISEME_CLASSES[phoneme_class(sym)]
        if sym.startswith("'"):  # stressed syllables are louder and open wider
            target = (min(1.0, target[0] * 1.25),) + target[1:]
        elif sym.strip(",") in ("@", "@2", "I2", "a#", "@5"):  # reduced vowels barely open
            target = (target[0] * 0.6,) + target[1:]
        dist = np.maximum(0.0, np.maximum(start - times, times - end))  # 0 inside the segment
        weights.append(dom * np.exp(-theta * dist))
        targets.append(target)
    w = np.stack(weights, 1)  # (T, P)
    track = (w @ np.asarray(targets)) / np.maximum(w.sum(1, keepdims=True), 1e-8)  # (T, 5)
    return track


def is_stressed(symbol: str) -> bool:
    return symbol.startswith("'")


# ---------------------------------------------------------------------------------------------------------
# Blinks and head pose
# ---------------------------------------------------------------------------------------------------------


# Mean head orientation shift per emotion at intensity 1 (degrees yaw, pitch, roll) and motion scale.
_EMOTION_POSE = {
    "neutral": ((0, 0, 0), 1.0),
    "happy": ((0, -2, 2), 1.3),
    "sad": ((0, 7, 0), 0.6),
    "surprise": ((0, -5, 0), 1.2),
    "fear": ((3, 2, 0), 0.9),
    "angry": ((0, 3, 0), 1.1),
}


def head_pose_track(n: int, fps: float, stressed_times: list[float], emotion: str, intensity: float,
                    motion: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (n, 3) degrees [yaw, pitch, roll] and translation (n, 2) in normalized units."""
    bias, amp = _EMOTION_POSE[emotion]
    amp = motion * (1 + intensity * (amp - 1))
    rot = np.stack([
        smooth_noise(n, fps, rng, 0.6, 5.0 * amp),
        smooth_noise(n, fps, rng, 0.5, 2.5 * amp),
        smooth_noise(n, fps, rng, 0.8, 2.0 * amp),
    ], 1)
    rot += intensity * np.asarray(bias, float)
    t = np.arange(n) / fps
    for ts in stressed_times:  # speech-correlated nods on stressed syllables
        rot[:, 1] += rng.uniform(1.0, 3.0) * amp * np.exp(-0.5 * ((t - ts - 0.05) / 0.12) ** 2)
    trans = np.stack([smooth_noise(n, fps, rng, 0.8, 0.025 * amp), smooth_noise(n, fps, rng, 0.8, 0.015 * amp)], 1)
    return rot, trans


# ---------------------------------------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Motion:
    norm: np.ndarray  # (T, 68, 3) normalized landmarks
    visemes: np.ndarray  # (T, 5) weights for VISEME_KEYS
    closure: np.ndarray  # (T,) eye closure in [0, 1]
    gaze: np.ndarray  # (T, 2) eye widths, see spacex.gaze
    blinks: list[tuple[float, float]]
    rotation: np.ndarray  # (T, 3) degrees [yaw, pitch, roll]
    translation: np.ndarray  # (T, 2) normalized units


def animate(identity: Identity, phonemes: list[tuple[str, float, float]], n_frames: int, fps: float,
            emotion: str, intensity: float, rng: np.random.Generator) -> Motion:
    """Per-frame normalized landmarks and head pose for one utterance."""
    times = (np.arange(n_frames) + 0.5) / fps  # frame i shows the middle of its interval
    vis = viseme_track(phonemes, times)  # (T, 5)
    vis = gaussian_filter1d(vis, sigma=0.6, axis=0)  # physical lip inertia (~20 ms)
    jaw, rnd, spread, lip_up, closure_lips = vis.T
    a = identity.articulation
    # Emotion: a slowly breathing intensity so expressions are not frozen.
    level = intensity * identity.expressivity * (1 + smooth_noise(n_frames, fps, rng, 0.7, 0.08))  # (T,)
    weights = {k: np.zeros(n_frames) for k in AU}
    for k, w in EXPRESSIONS[emotion].items():
        weights[k] += w * level
    weights["jaw_open"] += a * jaw * (1 + 0.2 * (emotion in ("angry", "surprise", "happy")) * intensity)
    weights["round"] += a * rnd
    weights["spread"] += a * spread
    weights["lower_lip_up"] += a * lip_up
    norm = identity.neutral[None] + sum(weights[k][:, None, None] * AU[k][None] for k in AU)  # (T, 68, 3)

    # Lip closure (p/b/m): pull inner lips to their midline, outer lips follow half way.
    c = np.clip(closure_lips, 0, 1)[:, None]
    for up, lo, f in (([61, 62, 63], [67, 66, 65], 1.0), ([50, 51, 52], [58, 57, 56], 0.5)):
        mid = (norm[:, up, 1] + norm[:, lo, 1]) / 2
        norm[:, up, 1] += f * c * (mid - norm[:, up, 1])
        norm[:, lo, 1] += f * c * (mid - norm[:, lo, 1])
    # Inner lips never cross.
    gap = norm[:, [67, 66, 65], 1] - norm[:, [61, 62, 63], 1]
    cross = np.minimum(gap, 0) / 2
    norm[:, [61, 62, 63], 1] += cross
    norm[:, [67, 66, 65], 1] -= cross

    # Blinks: upper lids travel to the lower lids.
    eye_closure, blinks = blink_track(n_frames / fps, fps, rng)
    eye_closure = eye_closure[:n_frames]
    norm = close_eyes(norm, eye_closure)

    stressed = [s for (sym, s, _e) in phonemes if is_stressed(sym)]
    rotation, translation = head_pose_track(n_frames, fps, stressed, emotion, intensity, identity.motion, rng)
    gaze = gaze_track(n_frames, fps, rng)  # drawn last: the streams above keep their values
    return Motion(norm, vis, eye_closure, gaze, blinks, rotation, translation)
