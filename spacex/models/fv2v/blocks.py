"""Building blocks shared by the face-vid2vid networks (2D/3D conv blocks, a 3D hourglass, grids)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock2d(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1),
                                  nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class ResBlock3d(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm3d(ch), nn.ReLU(), nn.Conv3d(ch, ch, 3, padding=1),
                                  nn.BatchNorm3d(ch), nn.ReLU(), nn.Conv3d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def down2d(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.AvgPool2d(2))


def up2d(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


def _widths(ch: int, levels: int, cap: int) -> list[int]:
    """Channels of an hourglass's levels: ch, 2ch, 4ch, ... capped at `cap` (0 = no cap)."""
    return [min(ch * 2 ** i, cap) if cap else ch * 2 ** i for i in range(levels)]


def _conv3d(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU())


class Hourglass3d(nn.Module):
    """A 3D U-Net; pools and upsamples height and width only (depth is shallow).

    `deep_skip=True` (the kit's default): the deepest level's features are pooled, upsampled and concatenated with
    themselves before the first decoder conv. `deep_skip=False`: the decoder starts from the pooled deepest
    features alone, as face-vid2vid's hourglass does (half that conv's input: the cheaper, narrower form)."""

    def __init__(self, cin: int, ch: int = 32, levels: int = 2, max_ch: int = 0, deep_skip: bool = True):
        super().__init__()
        self.deep_skip = deep_skip
        chans = _widths(ch, levels, max_ch)
        self.down = nn.ModuleList(_conv3d(c, out) for c, out in zip([cin] + chans, chans))
        self.up = nn.ModuleList()
        c = chans[-1]
        for i in reversed(range(levels)):
            skip = chans[i] if deep_skip or i < levels - 1 else 0
            out = chans[i - 1] if i > 0 else ch
            self.up.append(_conv3d(c + skip, out))
            c = out
        self.out_channels = c + cin

    def forward(self, x):  # (B, cin, D, h, w) -> (B, out_channels, D, h, w)
        skips, h = [], x
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = F.avg_pool3d(h, (1, 2, 2))
        if not self.deep_skip:
            skips[-1] = None
        for block in self.up:
            h = F.interpolate(h, scale_factor=(1, 2, 2))
            skip = skips.pop()
            h = block(h if skip is None else torch.cat([h, skip], 1))
        return torch.cat([h, x], 1)


class LiftHourglass(nn.Module):
    """face-vid2vid's keypoint hourglass: a 2D encoder (no skips) down to the bottleneck, lifted to a 3D volume by
    a 1x1 conv, and a 3D decoder back up to the input's height and width. Cheap where the U-Net is dear: the
    full-resolution levels are 2D on the way down."""

    def __init__(self, cin: int, ch: int, levels: int, depth: int, max_ch: int = 0):
        super().__init__()
        chans = _widths(ch, levels, max_ch)
        self.depth = depth
        self.down = nn.Sequential(*[down2d(c, out) for c, out in zip([cin] + chans, chans)])
        self.lift = nn.Conv2d(chans[-1], chans[-1] * depth, 1)
        outs = chans[-2::-1] + [ch // 2]  # (B, chans[-1], D, ...) -> ... -> ch // 2 channels
        self.up = nn.Sequential(*[nn.Sequential(nn.Upsample(scale_factor=(1, 2, 2)), _conv3d(c, out))
                                  for c, out in zip(chans[::-1], outs)])
        self.out_channels = outs[-1]

    def forward(self, x):  # (B, cin, H, W) -> (B, out_channels, D, H, W); H, W divisible by 2 ** levels
        n = 2 ** len(self.down)
        if x.shape[-1] % n or x.shape[-2] % n:  # else the output is smaller than the input and keypoints biased
            raise ValueError(f"LiftHourglass: input {tuple(x.shape[-2:])} is not divisible by {n} (2 ** levels)")
        f = self.lift(self.down(x))
        B, C, h, w = f.shape
        return self.up(f.view(B, C // self.depth, self.depth, h, w))


def grid3d(D: int, H: int, W: int, device=None) -> torch.Tensor:
    """(D, H, W, 3) coordinates (x, y, z) in [-1, 1], grid_sample's order."""
    z, y, x = torch.meshgrid(torch.linspace(-1, 1, D, device=device), torch.linspace(-1, 1, H, device=device),
                             torch.linspace(-1, 1, W, device=device), indexing="ij")
    return torch.stack([x, y, z], -1)


def gaussian3d(kp: torch.Tensor, shape: tuple[int, int, int], sigma: float = 0.1) -> torch.Tensor:
    """Keypoints (B, K, 3) -> heatmaps (B, K, D, H, W)."""
    g = grid3d(*shape, device=kp.device)  # (D, H, W, 3)
    d = g[None, None] - kp[:, :, None, None, None, :]  # (B, K, D, H, W, 3)
    return torch.exp(-0.5 * d.pow(2).sum(-1) / sigma ** 2)


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Degrees (B,) -> (B, 3, 3), R = Rz(roll) Ry(yaw) Rx(pitch): the convention of spacex.landmarks."""
    y, p, r = (torch.deg2rad(a) for a in (yaw, pitch, roll))
    one, zero = torch.ones_like(y), torch.zeros_like(y)
    rx = torch.stack([one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos()], -1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([r.cos(), -r.sin(), zero, r.sin(), r.cos(), zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx
