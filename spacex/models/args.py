"""The networks' hyperparameters: one dataclass per network (and face-vid2vid's loss weights).

They live here, free of torch and of the networks' code, so that `spacex.config` can type a profile's `model`
and `loss_weights` sections with them: a typo in params.yaml is an error when the profile loads, and editing a
network does not make every DVC stage that reads the config depend on that network's code. Each network module
re-exports its own Args (`spacex.models.s2l.S2LArgs` is this S2LArgs).

A field marked `derived(...)` is never set by a profile (the config refuses it there): the training code fills it
from the data it trains on (the store's MFCC count, the number of emotions, the renderer's keypoint count), or it
is fixed by the kit (the 68-point landmark scheme).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

DERIVED = "derived"  # dataclass field metadata key: why the field is not a config key


def derived(default, why: str):
    """A field that no profile sets: training fills it from the data, or the kit fixes it (`why` says which)."""
    return field(default=default, metadata={DERIVED: why})


class _Args:
    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class S2LArgs(_Args):
    """Speech2Landmarks (spacex.models.s2l)."""

    n_mfcc: int = derived(40, "the store's MFCC count (preprocess.n_mfcc)")
    n_points: int = derived(68, "the 68-point landmark scheme")
    n_emotions: int = derived(8, "the store's emotion order (preprocess.emotions)")
    audio_dim: int = 128  # audio feature width
    landmark_dim: int = 128  # source-landmark feature width
    hidden: int = 256  # LSTM width
    layers: int = 2
    kernel: int = 5  # temporal conv kernel: lookahead = 2 * (kernel // 2) frames


@dataclass
class PoseGenArgs(_Args):
    """PoseGen (spacex.models.posegen)."""

    n_mfcc: int = derived(40, "the store's MFCC count (preprocess.n_mfcc)")
    n_emotions: int = derived(8, "the store's emotion order (preprocess.emotions)")
    audio_dim: int = 64
    noise_dim: int = 16
    hidden: int = 128
    layers: int = 2
    kernel: int = 5


@dataclass
class EmotionArgs(_Args):
    """The per-frame emotion classifier (spacex.models.emotion)."""

    n_mfcc: int = derived(40, "the store's MFCC count (preprocess.n_mfcc)")
    n_points: int = derived(68, "the 68-point landmark scheme")
    n_emotions: int = derived(8, "the store's emotion order (preprocess.emotions)")
    hidden: int = 64
    kernel: int = 9  # temporal context of each layer, frames (two layers: 2 x (kernel // 2) each side)


@dataclass
class L2LArgs(_Args):
    """Landmarks2Latents (spacex.models.l2l)."""

    num_kp: int = derived(20, "the trained face-vid2vid's keypoint count (fv2v.model.num_kp)")
    n_mfcc: int = derived(40, "the store's MFCC count (preprocess.n_mfcc)")
    n_points: int = derived(68, "the 68-point landmark scheme")
    n_emotions: int = derived(8, "the store's emotion order (preprocess.emotions)")
    inputs: str = "audio+landmarks"  # the paper's ablation switch: audio+landmarks | landmarks | audio
    landmark_dim: int = 128
    audio_dim: int = 64
    source_dim: int = 64
    hidden: int = 256
    layers: int = 2
    kernel: int = 5
    gaze_dim: int = 0  # 0: no gaze input


@dataclass
class FV2VArgs(_Args):
    """face-vid2vid (spacex.models.fv2v.model)."""

    resolution: int = 64
    num_kp: int = 20  # METHOD.md: 20 (public re-implementations use 15)
    base: int = 32  # channel width unit
    volume_channels: int = 16
    depth: int = 8  # depth of the feature volume
    generator_blocks: int = 6
    spade: bool = False
    image_skip: bool = False
    use_vgg: bool = True  # perceptual loss with VGG19 when its weights are cached
    spectral_norm: bool = True  # in the discriminator, as in face-vid2vid
    headpose_levels: int = 4  # downsampling stages of the head pose + expression estimator (2x channels each)
    headpose_stride: int = 1  # its stem: 1 = full resolution; 4 = conv stride 2 + max-pool (ResNet's, face-vid2vid's)
    # its head: 1 = global mean of the last features (face-vid2vid's); N = an N x N grid of means, flattened through
    # a linear layer, which keeps where features are: small yaws are read from positions (docs/training.md)
    headpose_pool: int = 1
    hourglass_levels: int = 2  # of the canonical keypoint detector's and motion estimator's hourglasses
    hourglass_max: int = 0  # channel cap of those hourglasses (0 = none; face-vid2vid: 1024)
    hourglass_deep_skip: bool = True  # deepest level concatenates its own features (False: face-vid2vid's decoder)
    keypoint_hourglass: str = "unet3d"  # canonical detector: unet3d (2D stem, 3D U-Net) | lift (face-vid2vid's)
    keypoint_scale: float = 1.0  # the canonical detector sees the image at this scale (face-vid2vid: 0.25)
    appearance_blocks: int = 2  # 3D residual blocks of the appearance extractor
    # where a frame's expression comes from: "regress" (face-vid2vid: a delta per keypoint from the head pose
    # estimator's pooled features) | "heatmap" (kit: a heatmap detector like the canonical one locates the keypoints
    # on the frame itself, and delta is what the rigid R x_c + t leaves of them): a regressor reads inner-lip gaps
    # with slope 0.14-0.18, heatmaps with 0.87 (benchmarks/expression_probe.py)
    expression: str = "regress"


@dataclass
class FV2VWeights(_Args):
    """face-vid2vid's loss weights (the paper's, by default)."""

    perceptual: float = 10.0
    gan: float = 1.0
    feature_matching: float = 10.0
    equivariance: float = 10.0
    keypoint_prior: float = 10.0
    head_pose: float = 20.0
    deformation: float = 5.0
    # kit losses for small data (0 = off, as in the paper): keypoints anchored to landmarks, and an L1 that
    # weights the mouth and eyes (losses.ANCHORS, losses.region_weights)
    landmark_anchor: float = 0.0
    region_l1: float = 0.0
