"""FiLM (Perez et al. 2018): condition features on a vector with a per-channel scale and shift."""
from __future__ import annotations

import torch
from torch import nn


class FiLM(nn.Module):
    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)  # starts as the identity: gamma = 1, beta = 0
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, ..., C) channels-last, cond (B, cond_dim)."""
        gamma, beta = self.proj(cond).chunk(2, dim=-1)  # (B, C) each
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return x * (1 + gamma.view(shape)) + beta.view(shape)
