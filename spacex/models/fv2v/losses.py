"""face-vid2vid losses: perceptual (VGG19 from the weight cache, else an image pyramid L1, said plainly),
hinge GAN with feature matching, equivariance, keypoint prior, head pose, deformation prior."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn


class Perceptual(nn.Module):
    """Multi-scale VGG19 L1 (relu1_2 .. relu5_4) when `vgg19-dcbb9e9d.pth` is cached; otherwise a 3-scale
    L1 image pyramid, with a warning. VGG is loaded at the first loss computation (inference never needs it)
    and kept out of the state dict (it is not ours to save)."""

    LAYERS = (3, 8, 17, 26, 35)

    def __init__(self, use_vgg: bool = True):
        super().__init__()
        self.use_vgg = use_vgg
        self._vgg: list = []  # [] = not loaded yet; [None] = unavailable; [module] = loaded
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    @property
    def kind(self) -> str:
        return "vgg19" if self._load() is not None else "pyramid_l1"

    def _load(self):
        if not self._vgg:
            vgg = None
            if self.use_vgg:
                from spacex import weights

                try:
                    path = weights.require("vgg19")
                except weights.MissingWeights as e:
                    warnings.warn(f"perceptual loss runs WITHOUT VGG19 (image-pyramid L1 instead): {e}", stacklevel=3)
                else:
                    import torchvision

                    net = torchvision.models.vgg19()
                    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                    vgg = net.features[: self.LAYERS[-1] + 1].eval().requires_grad_(False)
            self._vgg.append(vgg)
        return self._vgg[0]

    def forward(self, x, y):
        vgg = self._load()
        if vgg is not None and next(vgg.parameters()).device != x.device:
            vgg.to(x.device)
        loss = 0.0
        for s in (1.0, 0.5, 0.25):
            xs = x if s == 1 else F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
            ys = y if s == 1 else F.interpolate(y, scale_factor=s, mode="bilinear", align_corners=False)
            if vgg is None:
                loss = loss + (xs - ys).abs().mean()
                continue
            a, b = (xs - self.mean) / self.std, (ys - self.mean) / self.std
            for i, layer in enumerate(vgg):
                a, b = layer(a), layer(b)
                if i in self.LAYERS:
                    loss = loss + (a - b.detach()).abs().mean()
        return loss


def hinge_d(real_out, fake_out):
    return sum(F.relu(1 - r[0]).mean() + F.relu(1 + f[0]).mean() for r, f in zip(real_out, fake_out))


def hinge_g(fake_out):
    return sum(-f[0].mean() for f in fake_out)


def feature_matching(real_out, fake_out):
    return sum((rf.detach() - ff).abs().mean() for r, f in zip(real_out, fake_out) for rf, ff in zip(r[1], f[1]))


def keypoint_prior(kp: torch.Tensor, min_dist: float = 0.1, depth: float = 0.33) -> torch.Tensor:
    """Keypoints (B, K, 3) spread out (pairwise squared distance >= min_dist) at mean depth `depth`."""
    d = (kp[:, :, None] - kp[:, None]).pow(2).sum(-1)  # (B, K, K)
    K = kp.shape[1]
    off = ~torch.eye(K, dtype=torch.bool, device=kp.device)
    return F.relu(min_dist - d[:, off]).sum(-1).mean() + (kp[..., 2].mean(-1) - depth).abs().mean()


def random_affine(B: int, strength: float, generator=None, device=None) -> torch.Tensor:
    """(B, 2, 3) small random affine maps (rotation, scale, shift) near the identity."""
    r = (torch.rand(B, 4, generator=generator) * 2 - 1).to(device) * strength
    ang, sc, tx, ty = r[:, 0] * 0.5, 1 + r[:, 1] * 0.5, r[:, 2], r[:, 3]
    theta = torch.zeros(B, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = sc * ang.cos(), -sc * ang.sin(), tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sc * ang.sin(), sc * ang.cos(), ty
    return theta
