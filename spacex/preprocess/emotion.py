"""Emotion vectors from dataset labels: one slot per emotion, holding its intensity (a label mix is allowed).

    vector("happy", 0.5)                  -> 0.5 in the happy slot
    vector("happy:0.7,surprise:0.3")      -> a mix; intensities in [0, 1]
    vector("", None)                      -> zeros (unlabeled: VoxCeleb2); `known` is False

The vocabulary is a config value (default: MEAD's eight). RAVDESS's "calm" is mapped to neutral.
"""
from __future__ import annotations

import numpy as np

DEFAULT_EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "angry", "disgust", "contempt"]
ALIASES = {"calm": "neutral", "surprised": "surprise", "disgusted": "disgust", "fearful": "fear"}


def parse(label: str, intensity: float | None) -> dict[str, float]:
    label = (label or "").strip()
    if not label:
        return {}
    if ":" in label:
        mix = {}
        for part in label.split(","):
            name, _, value = part.partition(":")
            mix[ALIASES.get(name.strip(), name.strip())] = float(value)
        return mix
    return {ALIASES.get(label, label): 1.0 if intensity is None or intensity == "" else float(intensity)}


def vector(label: str, intensity: float | None, emotions: list[str] = DEFAULT_EMOTIONS) -> tuple[np.ndarray, bool]:
    """Emotion vector (E,) float32 and whether the clip is labeled at all."""
    mix = parse(label, intensity)
    v = np.zeros(len(emotions), np.float32)
    for name, value in mix.items():
        if name not in emotions:
            raise ValueError(f"emotion {name!r} is not in the vocabulary {emotions}")
        if not 0 <= value <= 1:
            raise ValueError(f"intensity {value} of {name!r} outside [0, 1]")
        v[emotions.index(name)] = value
    return v, bool(mix)
