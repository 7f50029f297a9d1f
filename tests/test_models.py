"""Networks at small size: shapes, gradients, conventions, ablation switches."""
import numpy as np
import pytest
import torch

from spacex import landmarks as lm
from spacex.models.fv2v.blocks import rotation_matrix
from spacex.models.fv2v.headpose import BINS, bins_to_degrees
from spacex.models.fv2v.model import FaceVid2Vid, FV2VWeights
from spacex.models.l2l import Landmarks2Latents


@pytest.mark.parametrize("spade,skip", [(False, False), (True, False), (False, True)])
def test_fv2v_shapes_and_gradients(spade, skip):
    torch.manual_seed(0)
    m = FaceVid2Vid(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=2,
                    spade=spade, image_skip=skip, use_vgg=False)
    src, drv = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    feats = m.source_features(src)
    assert feats["volume"].shape == (2, 4, 4, 8, 8) and feats["kp"].shape == (2, 4, 3)
    assert feats["kp_canonical"].abs().max() <= 1
    kp_d, pose = m.driving_keypoints(feats["kp_canonical"], drv)
    assert m.render(src, feats, kp_d).shape == (2, 3, 32, 32)
    loss, logs = m(src, drv, torch.zeros(2, 3), FV2VWeights())
    assert torch.isfinite(loss) and set(logs) >= {"perceptual", "gan_fm", "equivariance", "keypoint_prior",
                                                 "head_pose", "deformation"}
    loss.backward()
    missing = [n for n, p in m.named_parameters()
               if not n.startswith("discriminator.") and (p.grad is None or not torch.isfinite(p.grad).all())]
    assert not missing, missing
    d = m.discriminator_loss(drv, m._last_fake)
    d.backward()
    assert all(p.grad is not None for p in m.discriminator.parameters())


def test_keypoint_rotation_follows_the_kit_convention():
    angles = np.array([[20.0, -10.0, 5.0], [-35.0, 15.0, -12.0]])
    ours = rotation_matrix(*(torch.tensor(angles[:, i]) for i in range(3))).numpy()
    np.testing.assert_allclose(ours, lm.rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2]), atol=1e-6)


def test_pose_bins_decode_to_degrees():
    logits = torch.full((2, BINS), -30.0)
    logits[0, 33], logits[1, 43] = 30.0, 30.0
    torch.testing.assert_close(bins_to_degrees(logits), torch.tensor([0.0, 30.0]), atol=1e-3, rtol=0)


def test_l2l_inputs_switch_and_baseline():
    torch.manual_seed(0)
    args = dict(num_kp=5, n_emotions=8, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16, layers=1)
    lms, mfcc, kp, emo = torch.randn(2, 12, 68, 3), torch.randn(2, 12, 40), torch.randn(2, 5, 3), torch.rand(2, 8)
    full = Landmarks2Latents(**args)
    out, _ = full(lms, mfcc, kp, emo)
    torch.testing.assert_close(out, kp[:, None].expand_as(out))  # untrained: the source keypoints
    for inputs, unused in (("landmarks", "mfcc"), ("audio", "lms")):
        m = Landmarks2Latents(inputs=inputs, **args)
        torch.nn.init.normal_(m.head.weight, std=0.1)
        a, _ = m(lms, mfcc, kp, emo)
        b, _ = m(lms if unused == "mfcc" else lms * 3, mfcc * 3 if unused == "mfcc" else mfcc, kp, emo)
        torch.testing.assert_close(a, b)  # the switched-off input has no influence
    with pytest.raises(ValueError, match="inputs"):
        Landmarks2Latents(inputs="video", **args)


def test_landmark_anchors_follow_a_mirrored_crop():
    """Flipping a training pair mirrors its anchors with ANCHOR_MIRROR and x -> -x: the same targets as the
    anchors computed from the mirrored frame's own landmarks (x -> x0 + x1 - 1 - x in photo pixels)."""
    from spacex.models.fv2v import losses as L
    from spacex.train.fv2v import anchor_targets

    rng = np.random.default_rng(0)
    box = np.array([10.0, 20.0, 110.0, 120.0])
    pts = rng.uniform(20, 100, (3, 68, 3))
    iris = rng.uniform(40, 80, (3, 2, 2))
    mirrored = pts.copy()
    mirrored[..., 0] = box[0] + box[2] - 1 - pts[..., 0]
    mirrored = mirrored[:, lm.MIRROR]
    iris_m = iris[:, ::-1].copy()
    iris_m[..., 0] = box[0] + box[2] - 1 - iris_m[..., 0]
    a = anchor_targets(pts, iris, box, 64)
    b = anchor_targets(mirrored, iris_m, box, 64)
    torch.testing.assert_close(a[:, list(L.ANCHOR_MIRROR)] * torch.tensor([-1.0, 1.0]), b)


def test_region_weights_peak_at_mouth_and_eyes():
    from spacex.models.fv2v import losses as L

    target = torch.full((1, len(L.ANCHORS), 2), float("nan"))  # unseen ...
    target[0, 0] = torch.tensor([-0.9, -0.9])  # a jaw point: not weighted
    target[0, L.MOUTH_ANCHORS[0]] = torch.tensor([0.0, 0.5])  # ... but one mouth corner
    w = L.region_weights(target, 32)  # (1, 1, 32, 32)
    y, x = divmod(int(w.flatten().argmax()), 32)
    assert abs((x + 0.5) / 16 - 1) < 0.07 and abs((y + 0.5) / 16 - 1 - 0.5) < 0.07
    assert float(w[0, 0, 0, 0]) < 1e-3  # far from every mouth and eye anchor


def test_learning_rate_milestones():
    from spacex.config import TrainConfig
    from spacex.train.trainer import lr_at

    cfg = TrainConfig(steps=100, lr=1.0, lr_milestones=[0.5, 0.9], lr_gamma=0.1)
    assert [lr_at(cfg, s) for s in (0, 49, 50, 89, 90, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
