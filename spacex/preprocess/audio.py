"""Audio features: mono audio at the configured rate, and 40 MFCCs per video frame.

One MFCC vector per video frame, computed on an FFT window (1024 samples by default) centred on the middle of
that frame, so the MFCC count equals the frame count exactly for any sample rate and fps (16 kHz / 30 fps
is 533.3 samples per frame: librosa's integer hop would drift by a frame a minute). librosa provides the
mel filterbank and the DCT.

Training-time augmentations (METHOD.md: pitch shift, equalization, loudness change) are small callables
`aug(audio, sample_rate, rng) -> audio`, composed with `Compose`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from spacex.errors import KitError


class AudioError(KitError, ValueError):
    pass


def check_audio(audio: np.ndarray, sample_rate: int, min_seconds: float, silence_dbfs: float = -60.0) -> None:
    """Reject audio that no model should learn from: too short, or silent."""
    check_audio_stats(len(audio), float(np.square(audio, dtype=np.float64).sum()), sample_rate, min_seconds,
                      silence_dbfs)


def check_audio_stats(n_samples: int, sum_squares: float, sample_rate: int, min_seconds: float,
                      silence_dbfs: float = -60.0) -> None:
    """check_audio from a stream's sample count and sum of squares (audio that is read, not held)."""
    if n_samples < min_seconds * sample_rate:
        raise AudioError(f"audio too short: {n_samples / sample_rate:.3f}s")
    rms = float(np.sqrt(sum_squares / n_samples))
    if rms <= 10 ** (silence_dbfs / 20):
        raise AudioError(f"silent audio (RMS {20 * np.log10(max(rms, 1e-12)):.0f} dBFS)")


def frame_centres(n_frames: int, sample_rate: int, fps: float) -> np.ndarray:
    return np.round((np.arange(n_frames) + 0.5) * sample_rate / fps).astype(np.int64)


def mfcc_span(sample_rate: int, fps: float, n_frames: int, n_fft: int = 1024, start: int = 0) -> tuple[int, int]:
    """The samples [a, b) that mfcc_per_frame reads for frames start .. start + n_frames - 1."""
    centres = frame_centres(start + n_frames, sample_rate, fps)[start:]
    return int(centres[0]) - n_fft // 2, int(centres[-1]) + n_fft // 2


def mfcc_per_frame(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int, n_mfcc: int = 40,
                   n_fft: int = 1024, n_mels: int = 80, start: int = 0, offset: int = 0,
                   total: int | None = None) -> np.ndarray:
    """(S,) audio -> (n_frames, n_mfcc) float32, one row per video frame, for frames start .. start + n_frames - 1
    (a window of a long clip gives exactly the rows of the whole clip; samples outside the audio count as 0).

    `audio` may be a slice of the clip: samples offset .. offset + S of a clip of `total` samples (e.g. the
    mfcc_span of the frames, read from a stream); by default it is the whole clip."""
    import librosa

    total = len(audio) + offset if total is None else total
    centres = frame_centres(start + n_frames, sample_rate, fps)[start:]
    idx = centres[:, None] + np.arange(-n_fft // 2, n_fft // 2)[None]  # (T, n_fft) sample indices in the clip
    inside = (idx >= 0) & (idx < total)
    frames = np.where(inside, audio[np.clip(idx - offset, 0, len(audio) - 1)], 0).astype(np.float32)
    frames *= np.hanning(n_fft).astype(np.float32)[None]
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, n_fft // 2 + 1)
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels) @ power.T  # (n_mels, T)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=1.0, top_db=None), n_mfcc=n_mfcc)  # (n_mfcc, T)
    return mfcc.T.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Augmentations
# ---------------------------------------------------------------------------------------------------------


@dataclass
class PitchShift:
    semitones: float = 2.0  # uniform in [-semitones, semitones]

    def __call__(self, audio, sample_rate, rng):
        import librosa

        steps = float(rng.uniform(-self.semitones, self.semitones))
        return librosa.effects.pitch_shift(audio, sr=sample_rate, n_steps=steps).astype(np.float32)


@dataclass
class Equalize:
    """Random peaking-EQ bands (RBJ audio-EQ cookbook biquads), like different microphones and rooms."""

    bands: int = 3
    max_gain_db: float = 9.0
    q: float = 1.0

    def __call__(self, audio, sample_rate, rng):
        out = audio.astype(np.float64)
        for _ in range(self.bands):
            f0 = float(np.exp(rng.uniform(np.log(100.0), np.log(0.45 * sample_rate))))
            gain = float(rng.uniform(-self.max_gain_db, self.max_gain_db))
            b, a = peaking_biquad(f0, gain, self.q, sample_rate)
            out = lfilter(b, a, out)
        return out.astype(np.float32)


@dataclass
class Loudness:
    max_db: float = 6.0

    def __call__(self, audio, sample_rate, rng):
        gain = 10 ** (float(rng.uniform(-self.max_db, self.max_db)) / 20)
        return np.clip(audio * gain, -1.0, 1.0).astype(np.float32)


@dataclass
class Compose:
    transforms: list
    p: float = 0.5  # probability of applying each transform

    def __call__(self, audio, sample_rate, rng):
        for t in self.transforms:
            if rng.random() < self.p:
                audio = t(audio, sample_rate, rng)
        return audio


def peaking_biquad(f0: float, gain_db: float, q: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    A = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * A, -2 * np.cos(w0), 1 - alpha * A])
    a = np.array([1 + alpha / A, -2 * np.cos(w0), 1 - alpha / A])
    return b / a[0], a / a[0]


def default_augmentation() -> Compose:
    return Compose([PitchShift(), Equalize(), Loudness()])
