"""Networks at small size: shapes, gradients, conventions, ablation switches."""
import numpy as np
import pytest
import torch

from spacex import landmarks as lm
from spacex.models.fv2v.blocks import rotation_matrix
from spacex.models.fv2v.headpose import BINS, HeadExpressionEstimator, bins_to_degrees
from spacex.models.fv2v.model import FaceVid2Vid, FV2VWeights
from spacex.models.l2l import Landmarks2Latents


# face-vid2vid's topology (the paper profile's): lifted keypoint hourglass on a smaller image, capped
# hourglasses without the deep skip, ResNet stem in the head pose estimator.
FV2V_TOPOLOGY = {"keypoint_hourglass": "lift", "keypoint_scale": 0.5, "hourglass_max": 8,  # widths 8, 16 -> 8
                 "hourglass_deep_skip": False, "headpose_stride": 4, "headpose_levels": 2}


@pytest.mark.parametrize("spade,skip,topology", [(False, False, {}), (True, False, {}), (False, True, {}),
                                                 (True, False, FV2V_TOPOLOGY)])
def test_fv2v_shapes_and_gradients(spade, skip, topology):
    torch.manual_seed(0)
    m = FaceVid2Vid(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=2,
                    spade=spade, image_skip=skip, use_vgg=False, **topology)
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


@torch.no_grad()
def test_headpose_grid_sees_where_a_feature_is():
    """A global mean of the last features is blind to where the face's parts are (a yaw of a few degrees only
    shifts them); headpose_pool > 1 keeps a grid of means. The same square, moved by a multiple of the network's
    stride and away from the borders, gives the mean head the same angles, the grid head other ones."""
    torch.manual_seed(0)
    a, b = torch.zeros(2, 1, 3, 192, 192)
    a[..., 88:104, 64:80], b[..., 88:104, 112:128] = 1.0, 1.0  # moved 48 px = 6 x the stride of 8
    for pool, same in ((1, True), (4, False)):
        net = HeadExpressionEstimator(num_kp=4, base=4, levels=3, pool=pool).eval()
        pa, pb = net(a), net(b)
        diff = max(float((pa[k] - pb[k]).abs().max()) for k in ("yaw", "pitch", "roll", "delta"))
        assert (diff < 1e-5) == same, (pool, diff)


def test_heatmap_expression_puts_keypoints_where_its_detector_finds_them():
    """`expression: heatmap`: the frame's keypoints are where a heatmap detector locates them (delta = located -
    rigid); the deformation prior trains x_c, R and t towards them and never the detector away from the image;
    the other networks start as with `regress`."""
    size = dict(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=2, use_vgg=False)
    torch.manual_seed(0)
    regress = FaceVid2Vid(**size).state_dict()
    torch.manual_seed(0)
    m = FaceVid2Vid(expression="heatmap", **size)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in regress.items())
    src, drv = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    m.eval()
    kp_c = m.canonical(src)
    kp_d, _ = m.driving_keypoints(kp_c, drv)
    torch.testing.assert_close(kp_d, m.expression(drv))
    torch.testing.assert_close(m.source_features(src)["kp"], m.expression(src))  # the source's keypoints too
    m.train()
    only_prior = FV2VWeights(perceptual=0, gan=0, feature_matching=0, equivariance=0, keypoint_prior=0, head_pose=0,
                             deformation=1.0)
    loss, _ = m(src, drv, torch.zeros(2, 3), only_prior)
    loss.backward()
    grads = lambda net: [float(p.grad.abs().sum()) if p.grad is not None else 0.0 for p in net.parameters()]
    assert sum(grads(m.expression)) == 0 and sum(grads(m.canonical)) > 0 and sum(grads(m.headpose)) > 0
    with pytest.raises(ValueError, match="expression"):
        FaceVid2Vid(expression="landmarks", **size)


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


def test_motion_field_warps_like_one_copy_per_keypoint():
    """The estimator samples the volume once at all K+1 grids; the result is what K+1 copies of it would give."""
    import torch.nn.functional as F

    from spacex.models.fv2v.blocks import grid3d
    from spacex.models.fv2v.motion import MotionFieldEstimator

    torch.manual_seed(0)
    est = MotionFieldEstimator(num_kp=3, volume_channels=4, depth=4, ch=4).eval()
    volume, kp_s, kp_d = torch.rand(2, 4, 4, 8, 8), torch.rand(2, 3, 3) - 0.5, torch.rand(2, 3, 3) - 0.5
    seen = {}
    est.hourglass.register_forward_hook(lambda mod, inp, out: seen.update(input=inp[0]))  # returns None
    with torch.no_grad():
        est(volume, kp_s, kp_d)
        grid = grid3d(4, 8, 8)[None, None]
        sparse = torch.cat([grid.expand(2, 1, 4, 8, 8, 3), grid - kp_d[:, :, None, None, None] +
                            kp_s[:, :, None, None, None]], 1)  # (B, K+1, D, h, w, 3)
        comp = est.compress(volume)
        copies = F.grid_sample(comp[:, None].expand(2, 4, 4, 4, 8, 8).reshape(8, 4, 4, 8, 8),
                               sparse.reshape(8, 4, 8, 8, 3), align_corners=True).view(2, 4, 4, 4, 8, 8)
    warped = seen["input"].view(2, 4, 5, 4, 8, 8)[:, :, :4]  # (B, K+1, c, ...) of the hourglass input
    assert torch.equal(warped, copies)


def test_paper_profile_has_face_vid2vids_size():
    """The paper profile's networks at the re-implementation's vox-256 setting (256 px, K = 15, plain generator)
    have its parameter counts within 5% (counted from its own classes on 9511d25: keypoint detector 41.94 M,
    head pose 30.25 M, dense motion 43.55 M, the generator's rest 9.55 M; benchmarks/fv2v_side_by_side.py)."""
    from spacex import config

    args = {**config.load("paper").fv2v.model.to_dict(), "resolution": 256, "num_kp": 15, "spade": False}
    with torch.device("meta"):
        m = FaceVid2Vid(**args)
    count = {name: sum(p.numel() for p in net.parameters()) / 1e6 for name, net in
             {"canonical": m.canonical, "headpose": m.headpose, "motion": m.motion,
              "rest": torch.nn.ModuleList([m.generator, m.appearance])}.items()}
    peer = {"canonical": 41.94, "headpose": 30.25, "motion": 43.55, "rest": 9.55}
    ratio = {k: round(count[k] / v, 3) for k, v in peer.items()}
    assert all(abs(r - 1) <= 0.05 for r in ratio.values()), ratio
