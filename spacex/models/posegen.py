"""PoseGen: plausible head-pose sequences from speech (stochastic).

    mfcc (B, T, 40) --conv1d--> (B, T, A) --FiLM(emotion)--+
    noise z (B, Z), one draw per sequence ------------------+--> LSTM --> pose deltas (B, T, 6)

Pose features (relative to the sequence's first frame): yaw, pitch, roll in units of 10 degrees,
translation x, y in units of the face scale, log scale ratio. Different z give different, equally
plausible motions for the same audio; training uses a best-of-K loss so the samples spread over the modes
instead of collapsing to their mean.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spacex.models.args import PoseGenArgs
from spacex.models.film import FiLM

POSE_DIM = 6


class PoseGen(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        a = self.args = PoseGenArgs(**kw)
        self.register_buffer("mfcc_mean", torch.zeros(a.n_mfcc))
        self.register_buffer("mfcc_std", torch.ones(a.n_mfcc))
        self.audio = nn.Sequential(nn.Conv1d(a.n_mfcc, a.audio_dim, a.kernel, padding=a.kernel // 2), nn.LeakyReLU(0.2))
        self.film = FiLM(a.n_emotions, a.audio_dim)
        self.noise = nn.Linear(a.noise_dim, a.audio_dim)
        self.lstm = nn.LSTM(2 * a.audio_dim, a.hidden, a.layers, batch_first=True)
        self.head = nn.Linear(a.hidden, POSE_DIM)

    @property
    def context(self) -> int:
        """Frames of audio each side that one output frame sees (the convolution)."""
        return self.args.kernel // 2

    def forward(self, mfcc: torch.Tensor, emotion: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """mfcc (B, T, n_mfcc), emotion (B, E), z (B, Z) -> pose deltas (B, T, 6), zero at t = 0."""
        out, _ = self.absolute(mfcc, emotion, z)  # (B, T, 6)
        return out - out[:, :1]  # motion relative to the first frame

    def absolute(self, mfcc, emotion, z, state=None, context: tuple[int, int] = (0, 0)):
        """The pose features before they are made relative to the first frame, and the LSTM state; streams
        like Speech2Landmarks.forward: mfcc (B, C0 + T + C1, n_mfcc) -> (B, T, 6)."""
        a = self.audio(((mfcc - self.mfcc_mean) / self.mfcc_std).transpose(1, 2)).transpose(1, 2)
        a = self.film(a[:, context[0]: a.shape[1] - context[1]], emotion)  # (B, T, A)
        B, T, _ = a.shape
        n = self.noise(z)[:, None].expand(B, T, -1)  # (B, T, A)
        h, state = self.lstm(torch.cat([a, n], -1), state)
        return self.head(h), state

    def sample(self, mfcc, emotion, n: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """n seeded samples -> (n, B, T, 6)."""
        z = torch.randn(n, mfcc.shape[0], self.args.noise_dim, generator=generator).to(mfcc.device)
        return torch.stack([self(mfcc, emotion, z[i]) for i in range(n)])


def pose_features(rotation: np.ndarray, translation: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T, 3) deg, (T, 3) px, (T,) px -> (T, 6) relative to frame 0 (the features PoseGen models)."""
    rot = (rotation - rotation[:1]) / 10.0
    trans = (translation[:, :2] - translation[:1, :2]) / scale[:1, None]
    return np.concatenate([rot, trans, np.log(scale / scale[0])[:, None]], 1).astype(np.float32)
