"""Known-answer tests of the evaluation metrics (spacex.evaluate.metrics)."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from skimage import data, filters

from spacex import landmarks as lm
from spacex import weights
from spacex.evaluate.metrics import image, landmarks as lmm, sharpness
from spacex.preprocess.pose import mean_shape


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    return data.astronaut()  # (512, 512, 3) uint8


def clip(T: int = 3, seed: int = 0, size: int = 64) -> np.ndarray:
    """(T, size, size, 3) uint8 crops of the astronaut with small per-frame shifts."""
    return np.stack([astronaut()[100 + 2 * t:100 + 2 * t + size, 180:180 + size] for t in range(T)])


# ---------------------------------------------------------------- PSNR / SSIM

def test_identical_frames_psnr_inf_ssim_one():
    x = clip()
    assert image.psnr(x, x) == math.inf
    assert image.ssim(x, x) == pytest.approx(1.0, abs=1e-12)


def test_psnr_known_offset():
    x = np.full((2, 16, 16, 3), 100, np.uint8)
    y = x + np.uint8(5)
    assert image.psnr(y, x) == pytest.approx(10 * math.log10(255 ** 2 / 25.0))
    # Mixed exact and inexact frames: the exact frame is left out of the mean (documented behaviour).
    z = y.copy()
    z[0] = x[0]
    assert np.isinf(image.psnr_frames(z, x)[0])
    assert image.psnr(z, x) == pytest.approx(10 * math.log10(255 ** 2 / 25.0))


def test_ssim_drops_with_noise_and_rejects_floats():
    x = clip()
    noisy = np.clip(x + np.random.default_rng(0).normal(0, 20, x.shape), 0, 255).astype(np.uint8)
    assert image.ssim(noisy, x) < 0.9
    with pytest.raises(ValueError, match="uint8"):
        image.ssim(x / 255.0, x / 255.0)
    with pytest.raises(ValueError, match="differ"):
        image.psnr(x[:2], x)


# ---------------------------------------------------------------- CPBD

def test_cpbd_blurred_is_lower_and_matches_reference():
    sharp = astronaut()
    blurred = (filters.gaussian(sharp, sigma=1.5, channel_axis=-1) * 255).round().astype(np.uint8)
    s, b = sharpness.cpbd(sharp), sharpness.cpbd(blurred)
    # Checked once against a literal transcription of PyPI cpbd 1.0.7's loops: 0.383682 on this image.
    assert s == pytest.approx(0.383682, abs=1e-5)
    assert b < 0.5 * s
    assert sharpness.cpbd_video(np.stack([sharp, blurred])) == pytest.approx((s + b) / 2)


def test_edge_width_of_a_ramp():
    # A vertical edge ramping from column 10 to 16 (6 rising steps): the width between the local minimum and
    # maximum is 6 px at every edge pixel of the ramp, and a rising edge has gradient angle 0.
    row = np.clip((np.arange(32) - 10) / 6, 0, 1) * 200
    gray = np.tile(row, (8, 1))
    edges = np.zeros_like(gray, bool)
    edges[1:-1, 13] = True
    w = sharpness.edge_widths(gray, edges)
    assert (w[1:-1, 13] == 6).all() and w.sum() == 6 * 6
    # Mirrored (falling) edge: same width.
    assert (sharpness.edge_widths(gray[:, ::-1], edges[:, ::-1])[1:-1, 18] == 6).all()


# ---------------------------------------------------------------- LPIPS / FID weights

@pytest.mark.parametrize("cls, filename", [(image.LPIPSMetric, "alexnet-owt-7be5be79.pth"),
                                           (image.FIDMetric, "pt_inception-2015-12-05-6726825d.pth")])
def test_missing_and_mismatched_weights(monkeypatch, tmp_path, cls, filename):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(weights.MissingWeights, match=filename) as e:
        cls()
    assert "missing" in str(e.value)
    # A fabricated file under the right name cannot pass the SHA-256 prefix check.
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / filename).write_bytes(b"not a checkpoint")
    with pytest.raises(weights.MissingWeights, match="checksum mismatch"):
        cls()


def test_lpips_loading_path(monkeypatch, tmp_path):
    """Wiring only (the registry cannot verify a fabricated file, so `require` is stubbed): a random AlexNet
    trunk saved in torchvision's layout must load strictly into lpips, with the wheel's linear layers."""
    import lpips
    import torch
    import torchvision

    torch.manual_seed(0)
    trunk = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    torch.save(trunk, tmp_path / "alexnet.pth")
    monkeypatch.setattr(weights, "require", lambda name: tmp_path / "alexnet.pth")
    metric = image.LPIPSMetric(batch_size=2)
    assert torch.equal(metric.net.net.state_dict()["slice5.10.weight"], trunk["features.10.weight"])
    lin = torch.load(f"{lpips.__path__[0]}/weights/v0.1/alex.pth", map_location="cpu", weights_only=True)
    assert torch.equal(metric.net.lins[4].model[1].weight, lin["lin4.model.1.weight"])
    x = clip(T=3)
    noisy = np.clip(x + np.random.default_rng(1).normal(0, 30, x.shape), 0, 255).astype(np.uint8)
    assert metric(x, x) == pytest.approx(0.0, abs=1e-6)
    per_frame = metric.frames(noisy, x)
    assert per_frame.shape == (3,) and (per_frame > 0).all()


def test_frechet_distance_known_answers():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 3))
    shift = np.array([1.0, -2.0, 0.5])
    assert image.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, abs=1e-9)
    # 1-D: (mu1 - mu2)^2 + (sigma1 - sigma2)^2 with sample statistics.
    u, v = rng.normal(0, 1, (300, 1)), rng.normal(3, 2, (300, 1))
    expect = (u.mean() - v.mean()) ** 2 + (u.std(ddof=1) - v.std(ddof=1)) ** 2
    assert image.frechet_distance(u, v) == pytest.approx(expect, rel=1e-9)
    # The textbook formula with a general matrix square root, on both code paths (fewer / more samples than D).
    for n, m in ((5, 7), (60, 80)):
        x, y = rng.normal(size=(n, 8)) @ rng.normal(size=(8, 8)), rng.normal(1, 2, (m, 8))
        sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        ref = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(sx + sy - 2 * sqrtm(sx @ sy).real)
        assert image.frechet_distance(x, y) == pytest.approx(ref, rel=1e-6)


def test_fid_loading_path_and_accumulation(monkeypatch, tmp_path):
    """Wiring only, with a randomly initialised FID Inception saved in pytorch-fid's layout (`require` stubbed)."""
    from unittest import mock

    import torch
    import torchvision
    from pytorch_fid import inception

    torch.manual_seed(0)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict", lambda self, *a, **k: None):
        state = inception.fid_inception_v3().state_dict()
    torch.save(state, tmp_path / "inception.pth")
    monkeypatch.setattr(weights, "require", lambda name: tmp_path / "inception.pth")
    metric = image.FIDMetric(batch_size=2)
    x = clip(T=3, size=75)
    feats = metric.features(x)  # two batches; the network runs at 299x299 (slow on CPU: keep T small)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all()
    # Accumulation over clips == FID of the pooled features (features looked up, not recomputed).
    metric.features = lambda frames: feats[[int(np.flatnonzero((x == f).all(axis=(1, 2, 3)))[0]) for f in frames]]
    metric.update(x[:1], x[1:])
    metric.update(x[1:], x[:1])
    assert metric.compute() == pytest.approx(image.frechet_distance(feats, feats[[1, 2, 0]]), abs=1e-9)
    assert metric(x[:2], x[1:]) == pytest.approx(image.frechet_distance(feats[:2], feats[1:]), abs=1e-9)
    metric.reset()
    with pytest.raises(ValueError, match="no generated"):
        metric.compute()


# ---------------------------------------------------------------- landmarks

def posed_shape(T: int, yaw=0.0, pitch=0.0, roll=0.0, size=120.0, centre=(128.0, 128.0)) -> np.ndarray:
    """The mean shape posed per frame: (T, 68, 2) pixels. Angles in degrees, scalars or (T,)."""
    rot = np.stack([np.broadcast_to(np.asarray(a, float), (T,)) for a in (yaw, pitch, roll)], 1)  # (T, 3)
    norm = np.repeat(mean_shape()[None], T, 0)
    return lm.pose_landmarks(norm, rot, np.tile(centre, (T, 1)), np.full(T, size))[..., :2]


def test_lmd_known_answers():
    rng = np.random.default_rng(0)
    gt = posed_shape(5) + rng.normal(0, 2, (5, 68, 2))
    assert lmm.lmd(gt, gt, "mouth") == 0.0 and lmm.lmd(gt, gt, "face") == 0.0
    d = 1.7
    for region, idx in (("mouth", lm.MOUTH), ("face", list(range(68)))):
        theta = 2 * np.pi * np.arange(len(idx)) / len(idx)
        offsets = d * np.stack([np.cos(theta), np.sin(theta)], 1)  # each of length d, summing to zero
        gen = gt.copy()
        gen[:, idx] += offsets
        gen += [40.0, -12.0]  # a global shift is removed by the centring
        assert lmm.lmd(gen, gt, region) == pytest.approx(d)
    gen[2] = np.nan  # a frame without a face is skipped
    assert lmm.lmd(gen, gt, "face") == pytest.approx(d)


def test_detect_landmarks_on_a_real_face():
    from spacex.corpus.synth.render import load_portrait

    portrait = load_portrait(astronaut(), "astronaut", 160)
    face = (portrait.image * 255).round().astype(np.uint8)
    frames = np.stack([face, face[:, ::-1], np.full_like(face, 128)])  # a face, its mirror, no face
    pts, missing = lmm.detect_landmarks(frames)
    assert pts.shape == (3, 68, 2) and missing == 1
    assert np.isfinite(pts[:2]).all() and np.isnan(pts[2]).all()
    lo, hi = portrait.landmarks.min(0) - 8, portrait.landmarks.max(0) + 8
    assert ((pts[:2] >= lo) & (pts[:2] <= hi)).all()
    assert np.linalg.norm(pts[0] - portrait.landmarks, axis=-1).mean() < 3.0
    mirrored = pts[1][lm.MIRROR] * [-1, 1] + [face.shape[1] - 1, 0]  # back to the unflipped image
    assert np.linalg.norm(mirrored - pts[0], axis=-1).mean() < 3.0


def close_eyes(points: np.ndarray, frames: list[int], amount: float = 0.85) -> np.ndarray:
    """Move the eyelid points of the given frames towards each eye's centre line by `amount`."""
    out = points.copy()
    for eye in (lm.EYE_R, lm.EYE_L):
        lids = [eye[1], eye[2], eye[4], eye[5]]
        mid = (out[:, eye[0], 1] + out[:, eye[3], 1]) / 2  # (T,)
        out[np.ix_(frames, lids, [1])] -= amount * (out[np.ix_(frames, lids, [1])] - mid[frames, None, None])
    return out


def test_blink_rate_known_blinks():
    fps, T = 25.0, 250  # 10 s
    yaw = 15 * np.sin(2 * np.pi * np.arange(T) / 100)  # head motion must not read as blinks
    pts = posed_shape(T, yaw=yaw, pitch=5.0)
    starts = [20, 80, 140, 200]
    pts = close_eyes(pts, [s + k for s in starts for k in range(3)])  # 4 blinks of 3 frames
    assert lmm.blink_rate(pts, fps) == pytest.approx(4 / (10 / 60))
    assert lmm.blink_rate(posed_shape(T, yaw=yaw), fps) == 0.0
    pts[90:140] = np.nan  # 2 s without a face, between two blinks:: the rate is over the 8 s observed
    assert lmm.blink_rate(pts, fps) == pytest.approx(4 / (8 / 60))


def test_blink_depth_reads_how_far_the_eyes_close_where_the_truth_blinks():
    T = 100
    yaw = 15 * np.sin(2 * np.pi * np.arange(T) / 50)  # head motion must not read as closing eyes
    closure = np.zeros(T)
    closure[[30, 31, 32, 70, 71]] = 1.0  # the corpus's true eye-closure track
    open_eyes = posed_shape(T, yaw=yaw, pitch=5.0)
    shut = close_eyes(open_eyes, [30, 31, 32, 70, 71], amount=0.5)  # lids halfway down where the truth blinks
    assert lmm.blink_depth(open_eyes, closure) == pytest.approx(0.0, abs=0.02)  # a face that never blinks
    assert lmm.blink_depth(shut, closure) == pytest.approx(0.5, abs=0.05)
    late = close_eyes(open_eyes, [40, 41, 42, 80, 81], amount=0.5)  # blinks, but not where the truth does
    assert lmm.blink_depth(late, closure) < 0.02  # no credit (its own blinks lower the open level: below 0)
    assert math.isnan(lmm.blink_depth(shut, np.zeros(T)))  # no true blink: nothing to measure
    shut[30:33] = np.nan  # no face on three of the closed frames: the other two still count
    assert lmm.blink_depth(shut, closure) == pytest.approx(0.5, abs=0.05)


def test_pose_stats_yaw_sinusoid():
    fps, T, amp = 25.0, 200, 20.0  # 2 periods of a 4 s head turn
    t = np.arange(T)
    yaw = amp * np.sin(2 * np.pi * t / 100)
    exact = posed_shape(T, yaw=yaw, pitch=3.0, roll=-2.0)
    stats = lmm.pose_stats(exact, fps)
    assert stats["yaw_std"] == pytest.approx(yaw.std(), abs=0.01)
    assert stats["pitch_std"] < 0.01 and stats["roll_std"] < 0.01
    # Mean |d yaw / dt| of A sin(w t) over whole periods: 2 A w / pi = 2 * 20 * (2 pi / 4 s) / pi = 20 deg/s.
    assert stats["angular_speed"] == pytest.approx(20.0, rel=0.01)
    noisy = exact + np.random.default_rng(0).normal(0, 0.5, exact.shape)  # detector-like noise
    noisy[50] = np.nan
    stats = lmm.pose_stats(noisy, fps)
    assert stats["yaw_std"] == pytest.approx(yaw.std(), abs=2.0)
    assert stats["pitch_std"] < 2.0 and stats["roll_std"] < 2.0


def test_pose_error_is_the_angle_between_the_two_head_poses():
    T = 50
    yaw = 15 * np.sin(2 * np.pi * np.arange(T) / 50)
    gt = posed_shape(T, yaw=yaw, pitch=3.0)
    assert lmm.pose_error(gt, gt) == pytest.approx(0.0, abs=1e-6)
    off = posed_shape(T, yaw=yaw + 8.0, pitch=3.0)  # the same motion, turned 8 degrees further
    assert lmm.pose_error(off, gt) == pytest.approx(8.0, abs=0.5)
    still = posed_shape(T, yaw=np.zeros(T), pitch=3.0)  # a still head scores the motion it misses
    assert lmm.pose_error(still, gt) == pytest.approx(np.abs(yaw).mean(), abs=0.5)
    off[:10] = np.nan
    assert np.isfinite(lmm.pose_error(off, gt))


def test_jitter_smooth_vs_noisy():
    fps, T = 25.0, 100
    t = np.arange(T)
    pts = posed_shape(T, yaw=10 * np.sin(2 * np.pi * t / 50))
    noisy = pts + np.random.default_rng(0).normal(0, 1.0, pts.shape)
    smooth_j, noisy_j = lmm.jitter(pts, fps), lmm.jitter(noisy, fps)
    assert smooth_j < 0.2 * noisy_j
    # Pure noise of std s per coordinate: E|a| for a ~ N(0, 6 s^2 I_2) is sqrt(6) s sqrt(pi / 2).
    iod = np.linalg.norm(pts[0, 45] - pts[0, 36])  # the static face below is frame 0's
    expect = np.sqrt(6) * np.sqrt(np.pi / 2) * fps ** 2 / iod
    assert lmm.jitter(noisy - pts + pts[:1], fps) == pytest.approx(expect, rel=0.05)
    noisy[40] = np.nan
    assert np.isfinite(lmm.jitter(noisy, fps))
