"""Canonical 3D keypoint detector: image -> K identity-specific keypoints (B, K, 3) in [-1, 1]^3."""
import torch.nn.functional as F
from torch import nn

from spacex.models.fv2v.blocks import Hourglass3d, down2d, grid3d


class CanonicalKeypointDetector(nn.Module):
    def __init__(self, num_kp: int = 20, base: int = 32, depth: int = 8, temperature: float = 0.1, levels: int = 2):
        super().__init__()
        self.depth, self.temperature, self.c = depth, temperature, 16
        self.encode = nn.Sequential(nn.Conv2d(3, base, 7, padding=3), nn.BatchNorm2d(base), nn.ReLU(),
                                    down2d(base, 2 * base), down2d(2 * base, 4 * base),
                                    nn.Conv2d(4 * base, self.c * depth, 1))
        self.hourglass = Hourglass3d(self.c, ch=base, levels=levels)
        self.heat = nn.Conv3d(self.hourglass.out_channels, num_kp, 3, padding=1)

    def forward(self, img):  # (B, 3, H, W) -> (B, K, 3)
        f = self.encode(img)
        B, _, h, w = f.shape
        heat = self.heat(self.hourglass(f.view(B, self.c, self.depth, h, w)))  # (B, K, D, h, w)
        K = heat.shape[1]
        prob = F.softmax(heat.view(B, K, -1) / self.temperature, -1).view_as(heat)
        grid = grid3d(self.depth, h, w, device=img.device)  # (D, h, w, 3)
        return (prob[..., None] * grid).sum((2, 3, 4))  # expected coordinates
