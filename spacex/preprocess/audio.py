"""Audio features: mono audio at the configured rate, and 40 MFCCs per video frame.

One MFCC vector per video frame, computed on an FFT window (1024 samples by default) centred on the middle of
that frame, so the MFCC count equals the frame count exactly for any sample rate and fps (16 kHz / 30 fps
is 533.3 samples per frame: librosa's integer hop would drift by a frame a minute). librosa provides the
mel filterbank and the DCT.

Training-time augmentation (METHOD.md: pitch shift, equalization, loudness change): `Augment` draws it per
training window; EQ and loudness act on the waveform, the pitch shift on the spectra the MFCCs are made of.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

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
                   total: int | None = None, semitones: float = 0.0) -> np.ndarray:
    """(S,) audio -> (n_frames, n_mfcc) float32, one row per video frame, for frames start .. start + n_frames - 1
    (a window of a long clip gives exactly the rows of the whole clip; samples outside the audio count as 0).

    `audio` may be a slice of the clip: samples offset .. offset + S of a clip of `total` samples (e.g. the
    mfcc_span of the frames, read from a stream); by default it is the whole clip. `semitones` shifts the pitch
    (training augmentation, `shift_pitch`)."""
    import librosa

    total = len(audio) + offset if total is None else total
    centres = frame_centres(start + n_frames, sample_rate, fps)[start:]
    idx = centres[:, None] + np.arange(-n_fft // 2, n_fft // 2)[None]  # (T, n_fft) sample indices in the clip
    inside = (idx >= 0) & (idx < total)
    frames = np.where(inside, audio[np.clip(idx - offset, 0, len(audio) - 1)], 0).astype(np.float32)
    frames *= np.hanning(n_fft).astype(np.float32)[None]
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (T, n_fft // 2 + 1)
    if semitones:
        power = shift_pitch(power, semitones)
    # einsum, not BLAS: a BLAS product's summation order (its last bits) changes with the thread count
    mel = np.einsum("mf,tf->mt", _mel_filters(sample_rate, n_fft, n_mels), power)  # (n_mels, T)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=1.0, top_db=None), n_mfcc=n_mfcc)  # (n_mfcc, T)
    return mfcc.T.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's mel filterbank (n_mels, n_fft // 2 + 1), built once per setting: training computes MFCCs of
    augmented windows on the fly, where building it took most of the time."""
    import librosa

    out = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    out.flags.writeable = False
    return out


# ---------------------------------------------------------------------------------------------------------
# Augmentations
# ---------------------------------------------------------------------------------------------------------


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
class Augment:
    """The training augmentation (METHOD.md: pitch shift, equalization, loudness change), each applied with
    probability p. Returns the waveform with EQ and loudness applied, and the pitch shift in semitones, which
    `mfcc_per_frame(semitones=...)` applies to its spectra (`shift_pitch`)."""

    p: float = 0.5
    semitones: float = 2.0  # uniform in [-semitones, semitones]
    eq: Equalize = field(default_factory=Equalize)
    loudness: Loudness = field(default_factory=Loudness)

    def __call__(self, audio, sample_rate, rng) -> tuple[np.ndarray, float]:
        shift = float(rng.uniform(-self.semitones, self.semitones)) if rng.random() < self.p else 0.0
        if rng.random() < self.p:
            audio = self.eq(audio, sample_rate, rng)
        if rng.random() < self.p:
            audio = self.loudness(audio, sample_rate, rng)
        return audio, shift


def shift_pitch(power: np.ndarray, semitones: float) -> np.ndarray:
    """Power spectra (..., F) of the sound shifted by `semitones`: every frequency times a = 2 ** (semitones / 12),
    formants included, as librosa.effects.pitch_shift moves them, with the total power kept. Applied to the
    spectra the MFCCs are computed from, it costs nothing; the waveform route (phase vocoder + resampling) took
    13 ms per 1.7 s training window on a 2-core CPU, most of an on-the-fly batch's time."""
    a = 2.0 ** (semitones / 12)
    F = power.shape[-1]
    src = np.arange(F) / a  # the source bin each output bin shows
    lo = np.minimum(np.floor(src).astype(np.int64), F - 2)
    w = (src - lo).astype(power.dtype)
    out = power[..., lo] * (1 - w) + power[..., lo + 1] * w
    return np.where(src <= F - 1, out, 0).astype(power.dtype) / a


def peaking_biquad(f0: float, gain_db: float, q: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    A = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sample_rate
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * A, -2 * np.cos(w0), 1 - alpha * A])
    a = np.array([1 + alpha / A, -2 * np.cos(w0), 1 - alpha / A])
    return b / a[0], a / a[0]


def default_augmentation() -> Augment:
    return Augment()
