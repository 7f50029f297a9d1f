"""What the sequence stages (S2L, L2L, PoseGen) share: window sampling, a pure function of the step's generator,
and the MFCC normalization their networks carry in buffers."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from spacex.train.trainer import Task


def sample_windows(lengths: list[int], batch_size: int, window: int, rank: int, world: int,
                   generator: torch.Generator):
    """The global batch of one step: for this rank's items, (clip index, frame indices (W,), mask (W,), u).

    Clips shorter than the window repeat their last frame, masked out. `u` is a spare uniform number per
    item (e.g. for choosing a source frame or an augmentation variant).
    """
    pick = torch.randint(len(lengths), (batch_size,), generator=generator).tolist()
    u = torch.rand(batch_size, 3, generator=generator).numpy()
    items = []
    for b in range(rank, batch_size, world):
        T = lengths[pick[b]]
        s = int(u[b, 0] * (T - window) + 0.5) if T > window else 0
        idx = np.minimum(np.arange(s, s + window), T - 1)
        mask = (np.arange(s, s + window) < T).astype(np.float32)
        items.append((pick[b], idx, mask, u[b, 1:]))
    return items


def mfcc_stats(mfccs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient mean and std over training clips' MFCCs (T, n_mfcc)."""
    allm = np.concatenate(mfccs)
    return allm.mean(0), allm.std(0) + 1e-5


def with_mfcc_stats(model: torch.nn.Module, mean: np.ndarray, std: np.ndarray) -> torch.nn.Module:
    """Store the normalization in the model's buffers, so checkpoints carry it to inference."""
    model.mfcc_mean.copy_(torch.from_numpy(mean))
    model.mfcc_std.copy_(torch.from_numpy(std))
    return model


class SequenceTask(Task):
    """A sequence stage's Task: `network` built from `self.args` (the stage's Args, filled from the data) with the
    training MFCC statistics `self.mean`, `self.std` in its buffers."""

    network: type[torch.nn.Module]

    def use_data(self, stage_cfg, train_data, val_data, mfccs: list[np.ndarray], **derived) -> None:
        """Set the stage's data, the MFCC statistics of `mfccs` (T, n_mfcc) and `self.args`: the profile's model
        section with the fields the data decides (MFCC count, emotion order; `derived`, e.g. num_kp)."""
        self.cfg, self.train_data, self.val_data = stage_cfg, train_data, val_data
        self.mean, self.std = mfcc_stats(mfccs)
        c0 = train_data.clips[0]
        self.args = replace(stage_cfg.model, n_mfcc=c0["mfcc"].shape[-1], n_emotions=len(c0["emotion"]), **derived)

    def model_args(self) -> dict:
        return self.args.to_dict()

    def build_model(self, **model_args) -> torch.nn.Module:
        return with_mfcc_stats(self.network(**model_args), self.mean, self.std)
