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
