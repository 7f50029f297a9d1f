"""Window sampling shared by the sequence stages (S2L, L2L, PoseGen): a pure function of the step's generator."""
from __future__ import annotations

import numpy as np
import torch


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
