"""Speech2Landmarks: audio MFCCs + the photo's normalized landmarks + emotion -> per-frame 3D landmarks.

    audio (B, T, 40) --conv1d x2 (lookahead k frames)--> (B, T, A) --FiLM(emotion)--+
    source landmarks (B, 68, 3) --MLP--> (B, L) --FiLM(emotion)-- repeated over T --+--> LSTM (unidirectional)
        --> linear --> offsets (B, T, 68, 3);  prediction = source + offsets

The output layer starts at zero, so an untrained model predicts "repeat the source landmarks", the trivial
baseline it is measured against. The LSTM is unidirectional and its state can be carried across chunks, so
inference streams (latency: the convolution's lookahead). MFCC normalization statistics are buffers, saved
with the weights.
"""
from __future__ import annotations

import torch
from torch import nn

from spacex.models.args import S2LArgs
from spacex.models.film import FiLM


class Speech2Landmarks(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        a = self.args = S2LArgs(**kw)
        pad = a.kernel // 2
        self.register_buffer("mfcc_mean", torch.zeros(a.n_mfcc))
        self.register_buffer("mfcc_std", torch.ones(a.n_mfcc))
        self.audio = nn.Sequential(
            nn.Conv1d(a.n_mfcc, a.audio_dim, a.kernel, padding=pad), nn.LeakyReLU(0.2),
            nn.Conv1d(a.audio_dim, a.audio_dim, a.kernel, padding=pad), nn.LeakyReLU(0.2),
        )
        self.landmarks = nn.Sequential(
            nn.Linear(a.n_points * 3, a.landmark_dim), nn.LeakyReLU(0.2), nn.Linear(a.landmark_dim, a.landmark_dim),
        )
        self.film_audio = FiLM(a.n_emotions, a.audio_dim)
        self.film_landmarks = FiLM(a.n_emotions, a.landmark_dim)
        self.lstm = nn.LSTM(a.audio_dim + a.landmark_dim, a.hidden, a.layers, batch_first=True)
        self.head = nn.Linear(a.hidden, a.n_points * 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def context(self) -> int:
        """Frames of audio each side that one output frame sees (the two convolutions)."""
        return 2 * (self.args.kernel // 2)

    def forward(self, mfcc: torch.Tensor, source: torch.Tensor, emotion: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None, context: tuple[int, int] = (0, 0)):
        """mfcc (B, C0 + T + C1, n_mfcc), source (B, P, 3), emotion (B, E) -> landmarks (B, T, P, 3), LSTM state.

        Streaming: feed a chunk with `context` = (C0, C1) frames of neighbouring audio (up to `self.context`)
        and the previous chunk's state; the outputs equal those of the whole clip at once."""
        B = mfcc.shape[0]
        x = (mfcc - self.mfcc_mean) / self.mfcc_std
        a = self.audio(x.transpose(1, 2)).transpose(1, 2)  # (B, C0 + T + C1, A)
        a = a[:, context[0]: a.shape[1] - context[1]]  # (B, T, A)
        T = a.shape[1]
        a = self.film_audio(a, emotion)
        s = self.film_landmarks(self.landmarks(source.reshape(B, -1)), emotion)  # (B, L)
        h, state = self.lstm(torch.cat([a, s[:, None].expand(B, T, -1)], -1), state)  # (B, T, H)
        offsets = self.head(h).view(B, T, -1, 3)  # (B, T, P, 3)
        return source[:, None] + offsets, state
