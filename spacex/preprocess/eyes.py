"""Eye openness and blinks from the 68-point eye landmarks.

Openness is the eye aspect ratio (EAR, Soukupova & Cech 2016) measured in the normalized (frontalized) space,
so head rotation does not read as a blink. Blinks are runs of frames whose mean EAR falls below `ratio`
times the clip's open-eye level (its 90th percentile), at most `max_frames` long.
"""
from __future__ import annotations

import numpy as np

from spacex import landmarks as lm


def openness(norm_landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 3) normalized -> (T, 2) EAR [subject's right eye, left eye]."""
    return lm.eye_aspect_ratio(norm_landmarks)


def detect_blinks(ear: np.ndarray, fps: float, ratio: float = 0.6, max_seconds: float = 0.6) -> tuple[np.ndarray, list]:
    """(T, 2) EAR -> per-frame blink flags (T,) and [(start_s, end_s)] events."""
    e = ear.mean(1)
    level = np.percentile(e, 90)
    closed = e < ratio * level
    events, flags = [], np.zeros(len(e), bool)
    t = 0
    while t < len(e):
        if closed[t]:
            s = t
            while t < len(e) and closed[t]:
                t += 1
            if (t - s) / fps <= max_seconds:  # longer: eyes shut on purpose, not a blink
                flags[s:t] = True
                events.append((s / fps, t / fps))
        else:
            t += 1
    return flags, events
