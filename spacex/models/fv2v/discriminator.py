"""Multi-scale patch discriminator (hinge loss, feature maps for feature matching), spectrally normalized as in
face-vid2vid (`spectral_norm`)."""
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as sn


class PatchDiscriminator(nn.Module):
    def __init__(self, base: int = 32, layers: int = 3, spectral_norm: bool = True):
        super().__init__()
        norm = sn if spectral_norm else (lambda m: m)
        blocks, c = [], 3
        for i in range(layers):
            out = base * 2 ** i
            blocks.append(nn.Sequential(norm(nn.Conv2d(c, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)))
            c = out
        self.blocks = nn.ModuleList(blocks)
        self.score = norm(nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x):
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.score(x), feats


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, scales=(1.0, 0.5), base: int = 32, spectral_norm: bool = True):
        super().__init__()
        self.scales = scales
        self.nets = nn.ModuleList([PatchDiscriminator(base, spectral_norm=spectral_norm) for _ in scales])

    def forward(self, img):  # -> list of (score map, feature list), one per scale
        out = []
        for s, net in zip(self.scales, self.nets):
            x = img if s == 1.0 else F.interpolate(img, scale_factor=s, mode="bilinear", align_corners=False)
            out.append(net(x))
        return out
