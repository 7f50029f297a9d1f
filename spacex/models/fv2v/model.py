"""FaceVid2Vid: the networks wired together, computing the training losses (the loop only sums and steps).

Driving keypoints (METHOD.md): x_k = R(yaw, pitch, roll) x_c,k + t + delta_k, with the canonical keypoints x_c
from the source image and pose/expression from each image. Self-reenactment: source and driving are two
frames of one clip; the generator must rebuild the driving frame from the source's appearance volume.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spacex.models.args import FV2VArgs, FV2VWeights
from spacex.models.fv2v import losses as L
from spacex.models.fv2v.appearance import AppearanceExtractor
from spacex.models.fv2v.blocks import rotation_matrix
from spacex.models.fv2v.discriminator import MultiScaleDiscriminator
from spacex.models.fv2v.generator import OcclusionAwareGenerator
from spacex.models.fv2v.headpose import HeadExpressionEstimator
from spacex.models.fv2v.keypoints import CanonicalKeypointDetector
from spacex.models.fv2v.motion import MotionFieldEstimator


class FaceVid2Vid(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        a = self.args = FV2VArgs(**kw)
        if a.expression not in ("regress", "heatmap"):
            raise ValueError(f"expression must be regress or heatmap, got {a.expression!r}")
        self.appearance = AppearanceExtractor(a.base, a.volume_channels, a.depth, a.appearance_blocks)
        hourglass = {"levels": a.hourglass_levels, "max_ch": a.hourglass_max, "deep_skip": a.hourglass_deep_skip}
        self.canonical = CanonicalKeypointDetector(a.num_kp, a.base, a.depth, form=a.keypoint_hourglass,
                                                   scale=a.keypoint_scale, **hourglass)
        self.headpose = HeadExpressionEstimator(a.num_kp, a.base, a.headpose_levels, a.headpose_stride,
                                                 a.headpose_pool)
        self.motion = MotionFieldEstimator(a.num_kp, a.volume_channels, a.depth, a.base, **hourglass)
        self.generator = OcclusionAwareGenerator(a.volume_channels, a.depth, a.base, a.generator_blocks, a.spade,
                                                 a.image_skip)
        self.discriminator = MultiScaleDiscriminator(base=a.base, spectral_norm=a.spectral_norm)
        self.perceptual = L.Perceptual(a.use_vgg)
        # built last, so the other networks start from the same weights as with "regress"; at full resolution:
        # precise positions are the point
        self.expression = (CanonicalKeypointDetector(a.num_kp, a.base, a.depth, form=a.keypoint_hourglass, **hourglass)
                           if a.expression == "heatmap" else None)

    # -- inference pieces (also used by Landmarks2Latents and the animation pipeline) --------------------
    def source_features(self, img) -> dict:
        """Computed once per video: appearance volume, canonical keypoints, the source's own keypoints."""
        kp_c = self.canonical(img)
        pose = self.pose_of(kp_c, img)
        return {"volume": self.appearance(img), "kp_canonical": kp_c, "kp": self.transform(kp_c, pose),
                "pose": pose}

    def pose_of(self, kp_c, img) -> dict:
        """Head pose (yaw, pitch, roll: (B,) degrees), translation t (B, 3) and expression delta (B, K, 3) of img,
        for the identity whose canonical keypoints are kp_c (B, K, 3). With `expression: heatmap` delta is the
        located keypoints minus the rigid motion, and "delta_prior" the same with the located keypoints detached:
        the deformation prior then teaches x_c, R and t to explain where keypoints are, without pulling the
        located keypoints off the image."""
        pose = self.headpose(img)
        if self.expression is not None:
            rigid = self.transform(kp_c, {**pose, "delta": 0.0})
            found = self.expression(img)  # (B, K, 3)
            pose["delta"], pose["delta_prior"] = found - rigid, found.detach() - rigid
        return pose

    @staticmethod
    def transform(kp_c, pose) -> torch.Tensor:
        R = rotation_matrix(pose["yaw"], pose["pitch"], pose["roll"])  # (B, 3, 3)
        return torch.einsum("bij,bkj->bki", R, kp_c) + pose["t"][:, None] + pose["delta"]

    def driving_keypoints(self, kp_c, img) -> tuple[torch.Tensor, dict]:
        pose = self.pose_of(kp_c, img)
        return self.transform(kp_c, pose), pose

    def render(self, source_img, src: dict, kp_driving) -> torch.Tensor:
        motion = self.motion(src["volume"], src["kp"], kp_driving)
        return self.generator(source_img, src["volume"], motion)

    def keypoints_of(self, kp_canonical, frames, chunk: int = 32) -> torch.Tensor:
        """Driving keypoints (T, K, 3) of frames (T, 3, S, S) for one identity (kp_canonical (1, K, 3)), in chunks."""
        out = []
        for i in range(0, len(frames), chunk):
            part = frames[i:i + chunk]
            out.append(self.driving_keypoints(kp_canonical.expand(len(part), -1, -1), part)[0])
        return torch.cat(out)

    def render_sequence(self, source_img, src: dict, kps, chunk: int = 16) -> torch.Tensor:
        """Frames (T, 3, S, S) for driving keypoints (T, K, 3) from one source (batch 1), rendered in chunks."""
        out = []
        for i in range(0, len(kps), chunk):
            k = kps[i:i + chunk]
            feats = {name: v.expand(len(k), *v.shape[1:]) for name, v in src.items() if torch.is_tensor(v)}
            out.append(self.render(source_img.expand(len(k), -1, -1, -1), feats, k))
        return torch.cat(out)

    # -- training ------------------------------------------------------------------------------------
    def forward(self, source, driving, pose_driving, weights: FV2VWeights, generator=None,
                anchors_source=None, anchors_driving=None) -> tuple[torch.Tensor, dict]:
        """Generator-side losses for a batch of (source, driving) frames; pose_driving (B, 3) degrees;
        anchors_* (B, A, 2): the frames' landmark anchors in [-1, 1] (NaN = unseen), for the kit losses."""
        src = self.source_features(source)
        kp_d, pose_d = self.driving_keypoints(src["kp_canonical"], driving)
        fake = self.render(source, src, kp_d)
        logs = {}
        loss = weights.perceptual * self.perceptual(fake, driving)
        logs["perceptual"] = loss
        if weights.gan > 0:
            real_out, fake_out = self.discriminator(driving), self.discriminator(fake)
            g = weights.gan * L.hinge_g(fake_out) + weights.feature_matching * L.feature_matching(real_out, fake_out)
            loss = loss + g
            logs["gan_fm"] = g
        # Equivariance: keypoints of a warped driving frame, warped back, are the driving keypoints.
        theta = L.random_affine(len(driving), 0.1, generator, driving.device)
        warped = F.grid_sample(driving, F.affine_grid(theta, driving.shape, align_corners=False), align_corners=False)
        kp_w, _ = self.driving_keypoints(src["kp_canonical"], warped)
        back = torch.einsum("bij,bkj->bki", theta[:, :, :2], kp_w[..., :2]) + theta[:, None, :, 2]
        eq = weights.equivariance * (back - kp_d[..., :2]).abs().mean()
        anchored = len(L.ANCHORS) if weights.landmark_anchor > 0 and anchors_driving is not None else 0
        prior = weights.keypoint_prior * L.keypoint_prior(kp_d, anchored=anchored)
        pred = torch.stack([pose_d["yaw"], pose_d["pitch"], pose_d["roll"]], -1)
        # the paper's scales: head pose L1 in degrees summed over the three angles (supervised by preprocessing's
        # pose, in place of Hopenet's); expression deformation: L1 norm of each keypoint's delta, averaged
        head = weights.head_pose * (pred - pose_driving).abs().mean(0).sum()
        deform = weights.deformation * pose_d.get("delta_prior", pose_d["delta"]).abs().sum(-1).mean()
        loss = loss + eq + prior + head + deform
        logs.update(equivariance=eq, keypoint_prior=prior, head_pose=head, deformation=deform)
        if weights.landmark_anchor > 0 and anchors_driving is not None:
            anchor = weights.landmark_anchor * (L.anchor_loss(kp_d, anchors_driving) + L.anchor_loss(src["kp"], anchors_source))
            loss = loss + anchor
            logs["landmark_anchor"] = anchor
        if weights.region_l1 > 0 and anchors_driving is not None:
            w = L.region_weights(anchors_driving, driving.shape[-1])  # (B, 1, S, S)
            region = weights.region_l1 * ((fake - driving).abs() * w).sum() / (w.sum() * 3).clamp(min=1)
            loss = loss + region
            logs["region_l1"] = region
        self._last_fake = fake.detach()
        return loss, {k: float(v.detach()) for k, v in logs.items()}

    def discriminator_loss(self, driving, fake, discriminator=None) -> torch.Tensor:
        """Hinge loss of the discriminator (or its DDP wrapper) on real and generated frames, in one forward pass
        (one DDP forward per backward)."""
        out = (discriminator or self.discriminator)(torch.cat([driving, fake.detach()]))
        B = len(driving)
        real = [(s[:B], [f[:B] for f in fs]) for s, fs in out]
        gen = [(s[B:], [f[B:] for f in fs]) for s, fs in out]
        return L.hinge_d(real, gen)

    def generator_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith(("discriminator.", "perceptual."))]
