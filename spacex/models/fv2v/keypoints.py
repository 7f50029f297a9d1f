"""Canonical 3D keypoint detector: image -> K identity-specific keypoints (B, K, 3) in [-1, 1]^3.

Two forms (`fv2v.model.keypoint_hourglass`): `unet3d` (the kit's: a 2D stem to 1/4 resolution, lifted to a
shallow volume, a 3D U-Net) and `lift` (face-vid2vid's: a 2D encoder to the bottleneck, lifted, a 3D decoder).
`scale` < 1 shows the detector an anti-aliased smaller image (face-vid2vid: 0.25): keypoints are a coarse,
per-video quantity, and the cost falls with the square of the scale."""
import torch.nn.functional as F
from torch import nn

from spacex.models.fv2v.blocks import Hourglass3d, LiftHourglass, down2d, grid3d


class CanonicalKeypointDetector(nn.Module):
    def __init__(self, num_kp: int = 20, base: int = 32, depth: int = 8, temperature: float = 0.1, levels: int = 2,
                 form: str = "unet3d", scale: float = 1.0, max_ch: int = 0, deep_skip: bool = True):
        super().__init__()
        if form not in ("unet3d", "lift"):
            raise ValueError(f"keypoint_hourglass must be unet3d or lift, got {form!r}")
        self.depth, self.temperature, self.form, self.scale = depth, temperature, form, scale
        if form == "unet3d":
            self.c = 16  # channels of the lifted volume
            self.encode = nn.Sequential(nn.Conv2d(3, base, 7, padding=3), nn.BatchNorm2d(base), nn.ReLU(),
                                        down2d(base, 2 * base), down2d(2 * base, 4 * base),
                                        nn.Conv2d(4 * base, self.c * depth, 1))
            self.hourglass = Hourglass3d(self.c, ch=base, levels=levels, max_ch=max_ch, deep_skip=deep_skip)
        else:
            self.hourglass = LiftHourglass(3, ch=base, levels=levels, depth=depth, max_ch=max_ch)
        self.heat = nn.Conv3d(self.hourglass.out_channels, num_kp, 3, padding=1)

    def forward(self, img):  # (B, 3, H, W) -> (B, K, 3)
        if self.scale != 1:
            size = [round(s * self.scale) for s in img.shape[2:]]
            img = F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True)
        if self.form == "unet3d":
            f = self.encode(img)
            B, _, h, w = f.shape
            f = self.hourglass(f.view(B, self.c, self.depth, h, w))
        else:
            f = self.hourglass(img)
        heat = self.heat(f)  # (B, K, D, h, w)
        B, K, D, h, w = heat.shape
        prob = F.softmax(heat.view(B, K, -1) / self.temperature, -1).view_as(heat)
        grid = grid3d(D, h, w, device=img.device)  # (D, h, w, 3)
        return (prob[..., None] * grid).sum((2, 3, 4))  # expected coordinates
