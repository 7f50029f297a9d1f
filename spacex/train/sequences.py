"""What the sequence stages (S2L, L2L, PoseGen) share: their data read from the store's pack when used, window
sampling (a pure function of the step's generator), audio augmentation on the fly, and the MFCC normalization
their networks carry in buffers."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from spacex.preprocess import audio as audiofeat
from spacex.preprocess.packed import Packed
from spacex.train.loader import draw_clips
from spacex.train.trainer import Task


class SequenceData:
    """The clips of one split (pack index entries, `clips`); their arrays are read from the pack per use."""

    def __init__(self, pack_dir: str | Path, split: str, emotion_dir: str | Path | None = None,
                 labeled_only: bool = False):
        """`emotion_dir`: the emotion classifier's per-frame vectors for unlabeled clips (EmotionConfig.predictions);
        `labeled_only`: keep only clips with an emotion label (what the classifier trains on)."""
        self.pack = Packed(pack_dir)
        self.clips = [c for c in self.pack.clips(split) if c.get("emotion_label") or not labeled_only]
        if not self.clips:
            raise ValueError(f"no {split} clips{' with emotion labels' if labeled_only else ''} in {pack_dir}")
        self.settings = self.pack.settings
        self.lengths = [c["n_frames"] for c in self.clips]
        self.weights = self.pack.clip_weights(self.clips)  # None: one corpus, uniform draws
        self.emotion_dir = None if emotion_dir is None else Path(emotion_dir)

    def get(self, c: dict, key: str, rows=None) -> np.ndarray:
        if key == "emotion" and not c.get("emotion_label"):
            return self.predicted_emotion(c, rows)
        return self.pack.get(c, key, rows)

    def predicted_emotion(self, c: dict, rows=None) -> np.ndarray:
        """(E,) an unlabeled clip's emotion: the classifier's per-frame vectors averaged over these frames (the
        networks take one emotion vector per sequence, through FiLM)."""
        path = None if self.emotion_dir is None else self.emotion_dir / f"{c['clip_id']}.npy"
        if path is None or not path.exists():
            raise FileNotFoundError(f"clip {c['clip_id']} has no emotion label and no predicted emotion "
                                    f"({path or 'no emotion.predictions folder given'}): run `spacex train emotion`")
        per_frame = np.load(path, mmap_mode="r")  # (T, E)
        return np.asarray(per_frame if rows is None else per_frame[np.asarray(rows)], np.float32).mean(0)

    def mfcc(self, c: dict, rows=None, seed: int | None = None) -> np.ndarray:
        """(len(rows), n_mfcc) float32 MFCCs of a clip's frames: the store's, or (an augmentation seed given) those
        of its audio around these frames after a random augmentation (pitch, EQ, loudness; METHOD.md)."""
        if seed is None:
            return self.get(c, "mfcc", rows)
        rows = np.arange(c["n_frames"]) if rows is None else np.asarray(rows)
        s, e = int(rows.min()), int(rows.max()) + 1
        sr, n_fft = self.pack.sample_rate, self.settings["n_fft"]
        a, b = audiofeat.mfcc_span(sr, c["fps"], e - s, n_fft, start=s)
        a, b = max(a, 0), min(b, c["n_audio"])
        pcm = self.pack.audio(c, a, b)
        rng = np.random.default_rng(seed)
        x, semitones = audiofeat.default_augmentation()(pcm.astype(np.float32) / 32767, sr, rng)
        m = audiofeat.mfcc_per_frame(x, sr, c["fps"], e - s, n_mfcc=self.settings["n_mfcc"], n_fft=n_fft,
                                     n_mels=self.settings["n_mels"], start=s, offset=a, total=c["n_audio"],
                                     semitones=semitones)
        return m[rows - s]


def augment_seed(seed: int, step: int, b: int, u: float, p: float) -> int | None:
    """The augmentation seed of item b of a step, or None (clean audio) with probability 1 - p (u: its uniform)."""
    return int(np.random.SeedSequence([seed, step, b]).generate_state(1)[0]) if u < p else None


def sample_windows(data: SequenceData, batch_size: int, window: int, rank: int, world: int,
                   generator: torch.Generator):
    """The global batch of one step: for this rank's items, (item b, clip index, frame indices (W,), mask (W,), u).

    Clips are drawn uniformly, or by their corpus's weight in a mixed corpus. Clips shorter than the window repeat
    their last frame, masked out. `u` is a spare uniform number per item (e.g. for choosing a source frame or an
    augmentation variant).
    """
    lengths = data.lengths
    pick = draw_clips(len(lengths), batch_size, generator, data.weights)
    u = torch.rand(batch_size, 3, generator=generator).numpy()
    items = []
    for b in range(rank, batch_size, world):
        T = lengths[pick[b]]
        s = int(u[b, 0] * (T - window) + 0.5) if T > window else 0
        idx = np.minimum(np.arange(s, s + window), T - 1)
        mask = (np.arange(s, s + window) < T).astype(np.float32)
        items.append((b, pick[b], idx, mask, u[b, 1:]))
    return items


def with_mfcc_stats(model: torch.nn.Module, mean: np.ndarray, std: np.ndarray) -> torch.nn.Module:
    """Store the normalization in the model's buffers, so checkpoints carry it to inference."""
    model.mfcc_mean.copy_(torch.from_numpy(mean))
    model.mfcc_std.copy_(torch.from_numpy(std))
    return model


class SequenceTask(Task):
    """A sequence stage's Task: `network` built from `self.args` (the stage's Args, filled from the data) with the
    training MFCC statistics `self.mean`, `self.std` in its buffers."""

    network: type[torch.nn.Module]

    def use_data(self, stage_cfg, train_data: SequenceData, val_data: SequenceData, **derived) -> None:
        """Set the stage's data, the training split's MFCC statistics (from the pack's index) and `self.args`: the
        profile's model section with the fields the data decides (MFCC count, emotion order; `derived`, e.g. num_kp)."""
        self.cfg, self.train_data, self.val_data = stage_cfg, train_data, val_data
        self.mean, self.std = train_data.pack.mfcc_stats("train")
        c0 = train_data.clips[0]
        self.args = replace(stage_cfg.model, n_mfcc=len(self.mean), n_emotions=len(train_data.get(c0, "emotion")),
                            **derived)

    def model_args(self) -> dict:
        return self.args.to_dict()

    def build_model(self, **model_args) -> torch.nn.Module:
        return with_mfcc_stats(self.network(**model_args), self.mean, self.std)
