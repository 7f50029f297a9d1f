"""Natural eye and head motion tracks, shared by the SynthTalk generator and the animation pipeline.

Blinks (eye closure per frame and the lids it moves), gaze fixations and saccades (in the eye-width units of
`spacex.gaze`), and band-limited noise for smooth random motion. Both the corpus (`spacex.corpus.synth.face`)
and `spacex.animate` draw from here, so a seed means the same motion in both.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

UPPER_LIDS, LOWER_LIDS = [37, 38, 43, 44], [41, 40, 47, 46]  # paired: 37-41, 38-40, 43-47, 44-46


def blink_track(duration: float, fps: float, rng: np.random.Generator, rate_per_min: float = 17.0):
    """Eye closure in [0, 1] per frame (T,), and the blink intervals [(start, end)] in seconds.

    Blinks start as a Poisson process (mean rate ~17/min, at least 1 s apart); each closes in ~90 ms and
    reopens in ~160 ms.
    """
    n = int(round(duration * fps))
    t = np.arange(n) / fps
    closure = np.zeros(n)
    events = []
    start = rng.exponential(60.0 / rate_per_min) * 0.6
    while start < duration - 0.3:
        close, reopen = rng.uniform(0.07, 0.11), rng.uniform(0.13, 0.2)
        hold = rng.uniform(0.0, 0.04)
        c = np.interp(t, [start, start + close, start + close + hold, start + close + hold + reopen], [0, 1, 1, 0],
                      left=0, right=0)
        closure = np.maximum(closure, c)
        events.append((float(start), float(start + close + hold + reopen)))
        start += max(1.0, rng.exponential(60.0 / rate_per_min))
    return closure, events


def gaze_track(n: int, fps: float, rng: np.random.Generator, range_x: float = 0.2, range_y: float = 0.07) -> np.ndarray:
    """Gaze (n, 2) in eye widths (see `spacex.gaze`): fixations held 0.3-1.5 s, half of them at the centre (a
    speaker looks mostly at the listener), the others anywhere within the ranges, joined by ~50 ms saccades,
    with a little fixational drift."""
    t = np.arange(n) / fps

    def target() -> np.ndarray:
        return np.zeros(2) if rng.random() < 0.5 else rng.uniform(-1, 1, 2) * [range_x, range_y]

    knots_t, knots_g = [0.0], [target()]
    while knots_t[-1] < n / fps:
        hold = rng.uniform(0.3, 1.5)
        knots_t += [knots_t[-1] + hold, knots_t[-1] + hold + 0.05]
        knots_g += [knots_g[-1], target()]
    g = np.stack([np.interp(t, knots_t, np.asarray(knots_g)[:, k]) for k in range(2)], -1)
    return g + np.stack([smooth_noise(n, fps, rng, 0.3, 0.01) for _ in range(2)], -1)


def smooth_noise(n: int, fps: float, rng: np.random.Generator, sigma_s: float, std: float) -> np.ndarray:
    """Band-limited random motion (n,) with standard deviation `std` in expectation.

    Normalized by the analytic std of Gaussian-filtered white noise, 1 / sqrt(2 sqrt(pi) sigma), not by the
    sample std, which would blow up short clips (a few frames of a slow process look constant).
    """
    sigma = sigma_s * fps
    pad = int(3 * sigma)
    x = gaussian_filter1d(rng.normal(size=n + 2 * pad), sigma)[pad:pad + n]
    return x * np.sqrt(2 * np.sqrt(np.pi) * sigma) * std


def close_eyes(norm: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Normalized landmarks (T, 68, 3) with the upper lids moved towards the lower lids by closure (T,) in [0, 1]."""
    out = norm.copy()
    out[:, UPPER_LIDS, 1] += 0.92 * closure[:, None] * (out[:, LOWER_LIDS, 1] - out[:, UPPER_LIDS, 1])
    return out
