"""Full-reference image metrics on aligned frame stacks: PSNR, SSIM, LPIPS, FID.

All take uint8 RGB frames (T, H, W, 3) (a single (H, W, 3) frame is treated as T = 1) of the same face crop at
the same resolution for every method; the caller states that resolution. Colour space: sRGB as decoded,
no conversion to Y or linear light.

LPIPS and FID need external weights from the cache (`spacex.weights`); without them they raise MissingWeights
instead of ever scoring with random networks.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from spacex import weights


def _frames(x: np.ndarray, name: str) -> np.ndarray:
    """(T, H, W, 3) or (H, W, 3) uint8 -> (T, H, W, 3) uint8."""
    x = np.asarray(x)
    if x.dtype != np.uint8:  # a float [0, 1] stack would silently give nonsense against data_range 255
        raise ValueError(f"{name}: expected uint8 RGB frames, got {x.dtype}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"{name}: expected (T, H, W, 3) frames, got shape {x.shape}")
    return x


def _pair(gen: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gen, gt = _frames(gen, "gen"), _frames(gt, "gt")
    if gen.shape != gt.shape:
        raise ValueError(f"generated {gen.shape} and ground truth {gt.shape} differ: align and crop first")
    return gen, gt


def psnr_frames(gen: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame PSNR in dB, (T,); +inf for a frame reproduced exactly."""
    gen, gt = _pair(gen, gt)
    mse = ((gen.astype(np.float64) - gt) ** 2).mean(axis=(1, 2, 3))  # (T,)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(255.0 ** 2 / mse)


def psnr(gen: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-frame PSNR (dB) over RGB, peak 255.

    Exact frames (infinite PSNR) are left out of the mean, since any finite stand-in (a cap such as 100 dB)
    would be arbitrary; the result is inf only when every frame is exact. A method that copies some ground-truth
    frames thus scores on the frames it had to synthesize.
    """
    p = psnr_frames(gen, gt)
    finite = p[np.isfinite(p)]
    return float(finite.mean()) if len(finite) else math.inf


def ssim_frames(gen: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame SSIM (T,) (Wang et al. 2004 settings), on sRGB channels averaged."""
    gen, gt = _pair(gen, gt)
    return np.array([
        # Gaussian window sigma 1.5 with population covariances and data range 255 = Wang et al.'s reference
        structural_similarity(g, r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              data_range=255, channel_axis=-1)
        for g, r in zip(gen, gt)
    ])


def ssim(gen: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-frame SSIM: Gaussian window sigma 1.5, data range 255, each sRGB channel then averaged."""
    return float(ssim_frames(gen, gt).mean())


def _to_tensor(frames: np.ndarray, device: str):
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [0, 1] on device."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0


class LPIPSMetric:
    """LPIPS v0.1 (Zhang et al. 2018), AlexNet trunk: lower is more similar.

    The trunk is torchvision's ImageNet AlexNet (`alexnet-owt-7be5be79.pth`, from `weights.require("alexnet")`);
    the linear calibration layers ship inside the lpips wheel. Both are loaded by us with weights_only=True and
    strict key matching, so a partial load cannot pass silently.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 16) -> None:
        import lpips
        import torch

        trunk = torch.load(weights.require("alexnet"), map_location="cpu", weights_only=True)  # before building
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lpips passes torchvision's deprecated `pretrained=` argument
            # pretrained=False / pnet_rand=True: build the architecture only (lpips would otherwise download the
            # trunk and unpickle its linear layers); every weight is loaded below.
            net = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False)
        # lpips splits alexnet.features into slice1..5 whose children keep their indices: slice2.3 = features.3
        net.net.load_state_dict({k: trunk["features." + k.split(".", 1)[1]] for k in net.net.state_dict()})
        lin = torch.load(Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth", map_location="cpu",
                         weights_only=True)  # keys lin{i}.model.1.weight
        net.lins.load_state_dict({k[3:]: v for k, v in lin.items()})  # lins.{i} is lin{i}
        self.net = net.eval().to(device)
        self.device, self.batch_size = device, batch_size

    def frames(self, gen: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """Per-frame LPIPS (T,)."""
        import torch

        gen, gt = _pair(gen, gt)
        out = []
        with torch.no_grad():
            for i in range(0, len(gen), self.batch_size):
                a = _to_tensor(gen[i:i + self.batch_size], self.device) * 2 - 1  # lpips expects [-1, 1]
                b = _to_tensor(gt[i:i + self.batch_size], self.device) * 2 - 1
                out.append(self.net(a, b).flatten().cpu().numpy())  # (B, 1, 1, 1) -> (B,)
        return np.concatenate(out).astype(np.float64)

    def __call__(self, gen: np.ndarray, gt: np.ndarray) -> float:
        """Mean per-frame LPIPS."""
        return float(self.frames(gen, gt).mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D) (sample covariances):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    pytorch-fid's calculate_frechet_distance takes scipy's sqrtm of the non-symmetric product (tens of seconds at
    D = 2048, and its `disp=` call breaks on SciPy >= 1.18). The trace of the square root only needs the
    eigenvalues of S_a S_b, which are those of symmetric PSD matrices, so it is computed exactly from either
    - the samples (fewer frames than dimensions): with centred A, B, S_a S_b has the eigenvalues of
      (A B^T)(A B^T)^T / ((N-1)(M-1)), so tr sqrt = nuclear norm of A B^T / sqrt((N-1)(M-1)); or
    - the covariances: eigenvalues of S_a^(1/2) S_b S_a^(1/2).
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"FID needs at least 2 frames per side, got {len(a)} and {len(b)}")
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    A, B = a - a.mean(0), b - b.mean(0)  # (N, D), (M, D)
    n, m, D = len(a), len(b), a.shape[1]
    tr_a, tr_b = (A ** 2).sum() / (n - 1), (B ** 2).sum() / (m - 1)
    if min(n, m) < D:
        tr_sqrt = np.linalg.svd(A @ B.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1))
    else:
        w, V = np.linalg.eigh(A.T @ A / (n - 1))
        half = (V * np.sqrt(np.clip(w, 0, None))) @ V.T  # S_a^(1/2)
        tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(half @ (B.T @ B / (m - 1)) @ half), 0, None)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + tr_a + tr_b - 2 * tr_sqrt)


class FIDMetric:
    """FID (Heusel et al. 2017) with pytorch-fid's port of the TF Inception-v3 (2048-d pool3 features).

    Frames are fed as [0, 1] RGB and resized to 299x299 bilinearly inside the network, as pytorch-fid does for
    PNG frames. FID pools all generated frames against all ground-truth frames: feed clips one by one with
    `update(gen, gt)` (or `add_generated` / `add_reference`), then `compute()`. With fewer frames than feature
    dimensions (2048) the covariances are singular and the estimate is biased upwards: compare methods only on
    the same frame count.
    """

    DIMS = 2048

    def __init__(self, device: str = "cpu", batch_size: int = 32) -> None:
        from unittest import mock

        import torch
        from pytorch_fid import inception

        state = torch.load(weights.require("inception_fid"), map_location="cpu", weights_only=True)
        # fid_inception_v3() fetches its weights by URL (unverified, pickle); hand it our verified state dict.
        with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
            net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[self.DIMS]])
        self.net = net.eval().to(device)
        self.device, self.batch_size = device, batch_size
        self.reset()

    def reset(self) -> None:
        self._gen: list[np.ndarray] = []  # per clip (N_i, 2048)
        self._gt: list[np.ndarray] = []

    def features(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 -> pool3 features (T, 2048) float64."""
        import torch

        frames = _frames(frames, "frames")
        out = []
        with torch.no_grad():
            for i in range(0, len(frames), self.batch_size):
                f = self.net(_to_tensor(frames[i:i + self.batch_size], self.device))[0]  # (B, 2048, 1, 1)
                out.append(f[:, :, 0, 0].cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def add_generated(self, frames: np.ndarray) -> None:
        self._gen.append(self.features(frames))

    def add_reference(self, frames: np.ndarray) -> None:
        self._gt.append(self.features(frames))

    def update(self, gen: np.ndarray, gt: np.ndarray) -> None:
        """Accumulate one clip's generated and ground-truth frames (counts may differ)."""
        self.add_generated(gen)
        self.add_reference(gt)

    def compute(self) -> float:
        """FID of everything accumulated so far."""
        if not self._gen or not self._gt:
            raise ValueError("FID: no generated or no reference frames accumulated")
        return frechet_distance(np.concatenate(self._gen), np.concatenate(self._gt))

    def __call__(self, gen: np.ndarray, gt: np.ndarray) -> float:
        """FID of one pair of frame sets (does not touch the accumulated features)."""
        return frechet_distance(self.features(gen), self.features(gt))
