"""face-vid2vid losses: perceptual (VGG19 from the weight cache, else an image pyramid L1, said plainly),
hinge GAN with feature matching, equivariance, keypoint prior, head pose, deformation prior; and two kit
losses for small data (0 in the paper profile): landmark anchors and a face-region weighted L1."""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from spacex.landmarks import MIRROR


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


def keypoint_prior(kp: torch.Tensor, min_dist: float = 0.1, depth: float = 0.33, anchored: int = 0) -> torch.Tensor:
    """Keypoints (B, K, 3) spread out (pairwise squared distance >= min_dist) at mean depth `depth`. Pairs of
    two anchored keypoints (the first `anchored`) are left out: their landmarks set how close they are."""
    d = (kp[:, :, None] - kp[:, None]).pow(2).sum(-1)  # (B, K, K)
    K = kp.shape[1]
    off = ~torch.eye(K, dtype=torch.bool, device=kp.device)
    off[:anchored, :anchored] = False
    return F.relu(min_dist - d[:, off]).sum(-1).mean() + (kp[..., 2].mean(-1) - depth).abs().mean()


def random_affine(B: int, strength: float, generator=None, device=None) -> torch.Tensor:
    """(B, 2, 3) small random affine maps (rotation, scale, shift) near the identity."""
    r = (torch.rand(B, 4, generator=generator) * 2 - 1).to(device) * strength
    ang, sc, tx, ty = r[:, 0] * 0.5, 1 + r[:, 1] * 0.5, r[:, 2], r[:, 3]
    theta = torch.zeros(B, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = sc * ang.cos(), -sc * ang.sin(), tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sc * ang.sin(), sc * ang.cos(), ty
    return theta


# Landmark anchors (a kit choice, `loss_weights.landmark_anchor`): keypoint a is pulled, in image x/y, to point
# ANCHORS[a] of the frame's own landmarks (0-67: the iBUG 68; 68/69: the subject's right/left iris centre).
# Unsupervised keypoints need long training before they settle on the mouth and eyelids; anchored ones carry
# jaw, lips, eyelids and irises from the first steps. Chosen mirror-closed (ANCHOR_MIRROR) for flips.
ANCHORS = (2, 8, 14, 19, 24, 30, 37, 41, 44, 46, 68, 69, 48, 54, 51, 57, 62, 66)
_MIRROR_70 = [*MIRROR.tolist(), 69, 68]  # the irises swap too
ANCHOR_MIRROR = tuple(ANCHORS.index(_MIRROR_70[a]) for a in ANCHORS)  # flipped image: anchor a shows ANCHOR_MIRROR[a]
MOUTH_ANCHORS = tuple(i for i, a in enumerate(ANCHORS) if 48 <= a < 68)
EYE_ANCHORS = tuple(i for i, a in enumerate(ANCHORS) if 36 <= a < 48 or a >= 68)


def anchor_loss(kp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keypoints (B, K, 3), targets (B, A, 2) in [-1, 1] (NaN = not seen) -> mean L1 of the first A keypoints."""
    seen = torch.isfinite(target)
    d = (kp[:, : target.shape[1], :2] - torch.nan_to_num(target)).abs()
    return (d * seen).sum() / seen.sum().clamp(min=1)


def region_weights(target: torch.Tensor, size: int, sigma: float = 0.08) -> torch.Tensor:
    """Anchor targets (B, A, 2) -> (B, 1, S, S) weights, 1 at the mouth and eyes, fading to 0 (Gaussians)."""
    pts = torch.nan_to_num(target[:, list(MOUTH_ANCHORS + EYE_ANCHORS)], nan=10.0)  # unseen: far off the image
    u = (torch.arange(size, device=target.device, dtype=target.dtype) + 0.5) / size * 2 - 1
    gx = (u[None, None, None, :] - pts[..., 0, None, None]) ** 2  # (B, P, 1, S)
    gy = (u[None, None, :, None] - pts[..., 1, None, None]) ** 2  # (B, P, S, 1)
    return torch.exp(-(gx + gy) / (2 * sigma ** 2)).amax(1, keepdim=True)
