"""Sample media for the training runs: landmark videos with sound, reconstruction videos, traces."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spacex import landmarks as lm
from spacex import media
from spacex.viz import draw_points


def landmark_frames(*tracks: np.ndarray, size: int = 160) -> np.ndarray:
    """Normalized landmark tracks (T, 68, >=2) drawn side by side -> (T, size, size * n, 3) uint8."""
    T = min(len(t) for t in tracks)
    out = np.full((T, size, size * len(tracks), 3), 255, np.uint8)
    colours = [(200, 30, 30), (30, 90, 200), (30, 150, 60)]
    for k, track in enumerate(tracks):
        xy = track[:T, :, :2] * size * 0.7 + [size * (k + 0.5), size * 0.3]
        for t in range(T):
            draw_points(out[t], xy[t], colours[k % 3])
    return out


def video_with_audio(path: Path, frames: np.ndarray, fps: float, audio_pcm16: np.ndarray, sample_rate: int) -> Path:
    audio = audio_pcm16.astype(np.float32) / 32767
    return media.write_video(path, frames, fps, audio[: int(len(frames) / fps * sample_rate)], sample_rate)


def mouth_trace(path: Path, pred: np.ndarray, target: np.ndarray, fps: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(target)) / fps
    fig, ax = plt.subplots(figsize=(8, 2.5))
    ax.plot(t, lm.mouth_opening(target), label="true")
    ax.plot(t, lm.mouth_opening(pred), label="predicted")
    ax.set(xlabel="seconds", ylabel="mouth opening", title="Speech2Landmarks, a validation clip")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
