"""The per-frame emotion classifier: what unlabeled clips (VoxCeleb2) train with instead of a label (METHOD.md:
"per-frame predicted emotion probabilities where not").

    landmarks (B, T, 68, 3) normalized --flatten--+
    mfcc (B, T, n_mfcc) --normalize---------------+--> conv1d x 2 (over time) --> logits (B, T, E), intensity (B, T)

`vector` gives the per-frame emotion vectors in the store's form (the emotion's slot holds its intensity):
softmax probabilities times the predicted intensity, so predicted and labeled clips feed the FiLM layers alike.
"""
from __future__ import annotations

import torch
from torch import nn

from spacex.models.args import EmotionArgs


class EmotionClassifier(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        a = self.args = EmotionArgs(**kw)
        self.register_buffer("mfcc_mean", torch.zeros(a.n_mfcc))
        self.register_buffer("mfcc_std", torch.ones(a.n_mfcc))
        pad = a.kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(a.n_points * 3 + a.n_mfcc, a.hidden, a.kernel, padding=pad), nn.GELU(),
            nn.Conv1d(a.hidden, a.hidden, a.kernel, padding=pad), nn.GELU())
        self.head = nn.Linear(a.hidden, a.n_emotions + 1)  # E logits + 1 intensity logit

    def forward(self, landmarks: torch.Tensor, mfcc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """landmarks (B, T, 68, 3), mfcc (B, T, n_mfcc) -> logits (B, T, E), intensity in [0, 1] (B, T)."""
        x = torch.cat([landmarks.flatten(2), (mfcc - self.mfcc_mean) / self.mfcc_std], -1)  # (B, T, 68 * 3 + n_mfcc)
        h = self.net(x.transpose(1, 2)).transpose(1, 2)  # (B, T, hidden)
        out = self.head(h)
        return out[..., :-1], torch.sigmoid(out[..., -1])

    @torch.no_grad()
    def vector(self, landmarks: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        """(B, T, E) per-frame emotion vectors: probabilities x intensity."""
        logits, intensity = self(landmarks, mfcc)
        return logits.softmax(-1) * intensity[..., None]
