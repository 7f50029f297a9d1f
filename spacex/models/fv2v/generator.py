"""Occlusion-aware generator: warp the source volume, fold depth into channels, decode to an image.

`spade=True` uses SPADE residual blocks conditioned on the warped features (the face-vid2vid SPADE variant).
`image_skip=True` (a kit option, off in the paper profile) also warps the source image with the motion
field's 2D projection and blends it in with a learned mask: training starts near "copy the source", which
lets the CPU smoke profile learn in minutes.
"""
import torch
import torch.nn.functional as F
from torch import nn

from spacex.models.fv2v.blocks import ResBlock2d, up2d


class SPADEResBlock(nn.Module):
    def __init__(self, ch: int, cond: int):
        super().__init__()
        self.norm1, self.norm2 = nn.BatchNorm2d(ch, affine=False), nn.BatchNorm2d(ch, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cond, 64, 3, padding=1), nn.ReLU())
        self.gamma1, self.beta1 = nn.Conv2d(64, ch, 3, padding=1), nn.Conv2d(64, ch, 3, padding=1)
        self.gamma2, self.beta2 = nn.Conv2d(64, ch, 3, padding=1), nn.Conv2d(64, ch, 3, padding=1)
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, cond):
        s = self.shared(F.interpolate(cond, size=x.shape[2:]))
        h = self.conv1(F.relu(self.norm1(x) * (1 + self.gamma1(s)) + self.beta1(s)))
        h = self.conv2(F.relu(self.norm2(h) * (1 + self.gamma2(s)) + self.beta2(s)))
        return x + h


class OcclusionAwareGenerator(nn.Module):
    def __init__(self, volume_channels: int = 16, depth: int = 8, base: int = 32, blocks: int = 6,
                 spade: bool = False, image_skip: bool = False):
        super().__init__()
        c = 4 * base
        self.spade, self.image_skip = spade, image_skip
        self.fold = nn.Conv2d(volume_channels * depth, c, 3, padding=1)
        if spade:
            self.blocks = nn.ModuleList([SPADEResBlock(c, c) for _ in range(blocks)])
        else:
            self.blocks = nn.Sequential(*[ResBlock2d(c) for _ in range(blocks)])
        self.up = nn.Sequential(up2d(c, 2 * base), up2d(2 * base, base))
        self.rgb = nn.Conv2d(base, 3 + int(image_skip), 7, padding=3)

    def forward(self, source_img, volume, motion) -> torch.Tensor:
        B, C, D, h, w = volume.shape
        warped = F.grid_sample(volume, motion["deformation"], align_corners=True)  # (B, C, D, h, w)
        f = self.fold(warped.reshape(B, C * D, h, w)) * motion["occlusion"]
        if self.spade:
            x = f
            for block in self.blocks:
                x = block(x, f)
        else:
            x = self.blocks(f)
        out = self.rgb(self.up(x))
        img = torch.sigmoid(out[:, :3])
        if self.image_skip:
            # 2D flow: the deformation's (x, y), averaged over depth with the motion masks' weight.
            flow = motion["deformation"][..., :2].mean(1)  # (B, h, w, 2)
            flow = F.interpolate(flow.permute(0, 3, 1, 2), size=source_img.shape[2:], mode="bilinear",
                                 align_corners=True).permute(0, 2, 3, 1)
            warped_img = F.grid_sample(source_img, flow, align_corners=True)
            blend = torch.sigmoid(out[:, 3:4] + 2.0)  # starts near the warped source
            img = blend * warped_img + (1 - blend) * img
        return img
