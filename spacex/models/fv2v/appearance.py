"""Appearance feature extractor: image -> 3D feature volume (the identity's appearance, computed once)."""
from torch import nn

from spacex.models.fv2v.blocks import ResBlock3d, down2d


class AppearanceExtractor(nn.Module):
    def __init__(self, base: int = 32, volume_channels: int = 16, depth: int = 8, blocks: int = 2):
        super().__init__()
        self.c3, self.depth = volume_channels, depth
        self.encode = nn.Sequential(nn.Conv2d(3, base, 7, padding=3), nn.BatchNorm2d(base), nn.ReLU(),
                                    down2d(base, 2 * base), down2d(2 * base, 4 * base),
                                    nn.Conv2d(4 * base, volume_channels * depth, 1))
        self.res = nn.Sequential(*[ResBlock3d(volume_channels) for _ in range(blocks)])

    def forward(self, img):  # (B, 3, H, W) -> (B, C3, D, H/4, W/4)
        f = self.encode(img)
        B, _, h, w = f.shape
        return self.res(f.view(B, self.c3, self.depth, h, w))
