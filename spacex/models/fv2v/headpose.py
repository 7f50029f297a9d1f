"""Head pose + expression estimator: image -> yaw/pitch/roll (66 bins of 3 degrees each), translation,
per-keypoint expression deformation."""
import torch
import torch.nn.functional as F
from torch import nn

from spacex.models.fv2v.blocks import ResBlock2d, down2d

BINS = 66  # -99 .. +99 degrees in 3-degree bins, as in Hopenet and face-vid2vid


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """(B, 66) -> (B,) expected angle in degrees."""
    idx = torch.arange(BINS, device=logits.device, dtype=logits.dtype)
    return (F.softmax(logits, -1) * idx).sum(-1) * 3 - 99


class HeadExpressionEstimator(nn.Module):
    def __init__(self, num_kp: int = 20, base: int = 32, levels: int = 4, stride: int = 1, pool: int = 1):
        super().__init__()
        if stride not in (1, 4):
            raise ValueError(f"headpose_stride must be 1 or 4, got {stride}")
        if pool < 1:
            raise ValueError(f"headpose_pool must be >= 1, got {pool}")
        # stride 4: ResNet's stem (conv stride 2 + 3x3 max-pool stride 2): every later stage runs on 1/16 the pixels
        layers, c = [nn.Conv2d(3, base, 7, stride=min(stride, 2), padding=3), nn.BatchNorm2d(base), nn.ReLU()], base
        if stride == 4:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
        for _ in range(levels):
            layers += [down2d(c, 2 * c), ResBlock2d(2 * c)]
            c *= 2
        self.body = nn.Sequential(*layers)
        # pool > 1: a pool x pool grid of means -> C features by a linear layer. A global mean keeps what features
        # are, not where: on SynthTalk's +-5 degree yaws it learned no yaw at all (docs/training.md)
        self.pool = pool
        self.grid = nn.Sequential(nn.Flatten(), nn.Linear(c * pool * pool, c), nn.ReLU()) if pool > 1 else None
        self.yaw, self.pitch, self.roll = (nn.Linear(c, BINS) for _ in range(3))
        self.translation = nn.Linear(c, 3)
        self.deformation = nn.Linear(c, num_kp * 3)
        self.num_kp = num_kp

    def forward(self, img) -> dict:
        f = self.body(img)  # (B, C, h, w)
        f = self.grid(F.adaptive_avg_pool2d(f, self.pool)) if self.grid is not None else f.mean((2, 3))  # (B, C)
        return {"yaw": bins_to_degrees(self.yaw(f)), "pitch": bins_to_degrees(self.pitch(f)),
                "roll": bins_to_degrees(self.roll(f)), "t": self.translation(f),
                "delta": self.deformation(f).view(-1, self.num_kp, 3)}
