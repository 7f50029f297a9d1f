"""Typed configuration, built from a profile in params.yaml.

One truth: the dataclasses below hold every default, and they are the embedded default run's (the `smoke`
profile on SynthTalk); the networks' `model` / `loss_weights` sections are typed by the networks' own Args
(spacex.models.args), whose defaults are the networks'. params.yaml holds `profile: <name>` (the one the
pipeline runs) and `profiles: {<name>: {<section>: ...}}`, and a profile holds only what differs from these
defaults (a test keeps it so). `spacex config --profile NAME` prints the resolved config, every key.

`load` refuses, each with a message naming the key:
- an unknown key (a typo is an error, not a silent default);
- a key the training code fills from the data (`derived` in spacex.models.args, e.g. s2l.model.n_mfcc);
- a missing key that dvc.yaml tracks (`profiles.${profile}.X`): DVC needs it in every profile.

    cfg = load()                  # the profile named in params.yaml
    cfg = load("paper")           # another profile
    cfg = load(overrides={"corpus.synth.seed": 3})
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from spacex.errors import ConfigError
from spacex.models.args import DERIVED, EmotionArgs, FV2VArgs, FV2VWeights, L2LArgs, PoseGenArgs, S2LArgs


@dataclass
class SynthConfig:
    """SynthTalk generator settings (`spacex corpus synth`)."""

    seed: int = 0  # everything is a function of this
    resolution: int = 128  # square frame side, pixels (even)
    fps: int = 30  # video frame rate
    sample_rate: int = 48_000  # audio rate in the mp4 (a whole number of samples per frame)
    identities: int = 7  # people; the last `test_identities` are held out for the test split
    test_identities: int = 3  # so that test results are not one person's (each has a voice no training clip has)
    clips_train: int = 32
    clips_val: int = 8  # train identities, held-out sentences
    clips_test: int = 9  # held-out identities and held-out sentences (3 each; 20 s on 2 cores per test clip)
    # identity i speaks with voice i % len(voices); clips are drawn train, val, test from one generator, so more
    # test identities (with as many train identities) and more voices appended leave the train and val clips
    # byte-identical (and the pushed renderer valid)
    voices: list[str] = field(default_factory=lambda: ["en-us+m3", "en-us+f3", "en-gb-x-rp+m1", "en-us+f4", "en+m7",
                                                       "en-gb-scotland+m2", "en-us+f2"])
    portraits: str | None = None  # folder of extra portrait photos (any with one face); astronaut always used
    silence_s: float = 0.25  # silence before and after each sentence
    crf: int = 22  # H.264 quality
    workers: int = 2  # processes


@dataclass
class CorpusConfig:
    # The corpus the pipeline reads (inside the DVC-tracked data/ folder), or several mixed in training:
    # {folder: weight}, a corpus's share of the training draws proportional to its weight (docs/corpus.md, "Mixing").
    root: str | dict[str, float] = "data/synthtalk"
    synth: SynthConfig = field(default_factory=SynthConfig)

    def roots(self) -> dict[str, float]:
        """{folder: sampling weight}: one folder has weight 1."""
        if isinstance(self.root, str):
            return {self.root: 1.0}
        if not isinstance(self.root, dict) or not self.root or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in self.root.values()):
            raise ConfigError(f"corpus.root: a folder, or a mapping {{folder: weight > 0}}, got {self.root!r}")
        return {str(k): float(v) for k, v in self.root.items()}

    @property
    def main(self) -> str:
        """The first corpus: where `spacex corpus synth` writes and what `corpus check` reads by default."""
        return next(iter(self.roots()))


@dataclass
class PreprocessConfig:
    """Preprocessing settings (`spacex preprocess`, stage `preprocess`)."""

    out: str = "build/preprocess"  # the store
    backend: str = "dlib"  # landmarks: groundtruth | dlib | face_alignment
    fps: float = 30.0  # the model rate: every per-frame track of the store; clips at other rates are resampled
    sample_rate: int = 16_000  # audio rate of the store
    n_mfcc: int = 40
    n_fft: int = 1024  # MFCC window, samples
    n_mels: int = 80
    detect_every: int = 5  # MTCNN on every k-th frame
    min_face: int = 40  # pixels; smaller faces skip the clip
    second_face_ratio: float = 0.5  # a second face this large (area ratio) skips the clip
    crop_margin: float = 0.35  # crop box = face box widened by this fraction on each side
    pose_smoothing: float = 0.0  # Gaussian sigma over pose, frames (0 = raw per-frame pose)
    blink_ratio: float = 0.6  # blink when EAR < ratio x the clip's open-eye EAR
    emotions: list[str] = field(default_factory=lambda: ["neutral", "happy", "sad", "surprise", "fear", "angry",
                                                         "disgust", "contempt"])
    workers: int = 2  # processes (preprocessing, the pack and the corpus check)
    device: str = "auto"  # MTCNN and FAN: auto (cuda where there is one) | cpu | cuda[:N]; dlib is CPU only
    batch: int = 16  # frames per FAN forward pass
    # sampled frames per MTCNN pass; 0: all of a clip's at once (the default: the store's boxes are those of one pass,
    # and MTCNN's numbers depend a little on the batch); set e.g. 32 for long clips on a GPU
    detect_batch: int = 0


@dataclass
class PackConfig:
    """The store's training view (`spacex pack`, stage `pack`; spacex.preprocess.pack): memory-mapped shards with
    the frames cropped at fv2v.model.resolution (more sizes: `spacex pack --sizes`)."""

    out: str = "build/pack"
    shard_frames: int = 20_000  # frames per shard at most (20,000 at 512 px: 15.7 GB)


@dataclass
class TrainConfig:
    """The training loop's settings (spacex.train.trainer), one per stage."""

    steps: int = 1000
    batch_size: int = 16  # global batch, split across DDP ranks
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    lr_milestones: list[float] = field(default_factory=list)  # fractions of `steps` where lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    log_every: int = 50
    eval_every: int = 250
    ckpt_every: int = 250
    seed: int = 0
    amp: bool = True  # mixed precision (bf16), used on CUDA only
    device: str = "auto"  # auto | cpu | cuda
    workers: int = 0  # DataLoader worker processes per rank that read and augment batches (0: the training process,
    # fastest on 2 cores: S2L 12.5 vs 11.5 it/s with one worker; the paper profile has 6)
    resume_state: bool = True  # the final last.pt keeps optimizer, scaler and RNG state (false: weights and what
    # inference needs only, for a run folder that is shipped rather than resumed; earlier checkpoints keep it all)


@dataclass
class EmotionConfig:
    """The per-frame emotion classifier (`spacex train emotion`, stage `train_emotion`; spacex.train.emotion): trained
    on the labeled clips, applied to the unlabeled ones, whose per-frame vectors the sequence stages then train with."""

    out: str = "build/train/emotion"  # run folder
    predictions: str = "build/emotion"  # <clip>.npy (T, E) per unlabeled clip, index.json
    window: int = 48
    model: EmotionArgs = field(default_factory=EmotionArgs)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=300, lr=3e-3, eval_every=150,
                                                                   ckpt_every=150))


@dataclass
class S2LConfig:
    """Speech2Landmarks stage (`spacex train s2l`)."""

    out: str = "build/train/s2l"  # run folder: checkpoints, logs
    space: str = "normalized"  # normalized | raw: the paper's ablation (raw = crop-relative image landmarks)
    window: int = 48  # frames per training sequence
    mouth_y_weight: float = 3.0  # extra L1 weight on the vertical coordinate of mouth points
    audio_augment: float = 0.5  # fraction of training windows whose audio is augmented (pitch, EQ, loudness), on the fly
    # Which frame plays the photo in training. "clip": any frame of the same clip: its expression already
    # shows the clip's emotion, so the emotion input is redundant and emotion control is not learned.
    # "neutral": a frame of a neutral clip of the same identity (else any other clip of that identity, else
    # the same clip): the model has to take the expression from the emotion vector, as at inference.
    source: str = "neutral"
    model: S2LArgs = field(default_factory=S2LArgs)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class PoseGenConfig:
    """Pose-from-speech stage (`spacex train posegen`)."""

    out: str = "build/train/posegen"
    window: int = 60  # frames per training sequence
    samples: int = 4  # K noise draws per sequence for the best-of-K loss
    velocity_weight: float = 1.0
    min_motion_ratio: float = 0.1  # notebooks/25 stops the pipeline when PoseGen's samples move less than this
    audio_augment: float = 0.0  # fraction of training windows with augmented audio (as s2l.audio_augment)
    model: PoseGenArgs = field(default_factory=PoseGenArgs)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class FV2VConfig:
    """face-vid2vid stage (`spacex train fv2v`)."""

    out: str = "build/train/fv2v"
    keypoints: str = "build/keypoints"  # every clip's keypoints, extracted by stage `keypoints` for L2L
    model: FV2VArgs = field(default_factory=FV2VArgs)
    loss_weights: FV2VWeights = field(default_factory=FV2VWeights)
    flip: float = 0.5  # probability of mirroring a (source, driving) pair (and its pose and anchors)
    color_jitter: float = 0.1  # max relative change of brightness, contrast and saturation, the same for a pair
    # Eyes shut are ~3% of the frames, too rare for a short schedule to learn to render them: this fraction of the
    # training pairs takes its driving frame from the frames whose mean EAR is below blink_ratio x the clip's open
    # level (the store's eye_openness, spacex.preprocess.eyes), during the first blink_focus_until of the schedule
    # (the rest draws every frame alike). 0: face-vid2vid's uniform draws, the same random numbers as before.
    blink_focus: float = 0.0
    blink_ratio: float = 0.7
    blink_focus_until: float = 1.0
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class L2LConfig:
    """Landmarks2Latents stage (`spacex train l2l`)."""

    out: str = "build/train/l2l"
    window: int = 48
    audio_augment: float = 0.0  # fraction of training windows with augmented audio (as s2l.audio_augment)
    # Fraction of training windows whose landmark input is Speech2Landmarks' prediction (the trained s2l run,
    # s2l.out) posed with the frame's true head pose, instead of the detected landmarks: what L2L sees at
    # inference (under-articulated, smoothed), so that it can learn to use the audio for what S2L misses. With
    # a trained S2L run, validation also scores L2L on S2L's landmarks (kp_l1_s2l) whatever this is.
    s2l_inputs: float = 0.0
    model: L2LArgs = field(default_factory=L2LArgs)  # inputs: the paper's ablation switch
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class AnimateConfig:
    """Inference stage (`animate`): render a split and a demo with the trained checkpoints."""

    out: str = "build/animate"
    runs: str = "build/train"  # run folders fv2v/, s2l/, l2l/, posegen/
    split: str = "test"
    pose: str = "predicted"  # predicted | fixed
    seed: int = 0
    # the animate stage's renderer arithmetic (spacex.animate.pipeline.PRECISIONS): fp32, so that the pipeline's
    # numbers do not depend on whether a CPU has bf16 units; `spacex animate` and the explorer default to auto
    # (bf16 where it is native: it passed the precision check, docs/benchmarks.md, "Precision")
    precision: str = "fp32"
    render_batch: int = 8  # frames per renderer call: the fastest measured on CPU (docs/benchmarks.md, Render batch)
    device: str = "auto"  # auto (cuda where there is one) | cpu | cuda[:N]
    demo_text: str = "Hello! This portrait was animated from a single photo and a speech recording."


@dataclass
class AblationConfig:
    """The paper's ablations (`ablation` stage): variant name -> config overrides of one training stage."""

    out: str = "build/ablation"
    reports: str = "reports/ablation"
    # the paper's ablations (METHOD.md): L2L without audio / without landmarks; S2L in image space
    variants: dict = field(default_factory=lambda: {"l2l_landmarks": {"l2l.model.inputs": "landmarks"},
                                                    "l2l_audio": {"l2l.model.inputs": "audio"},
                                                    "s2l_raw": {"s2l.space": "raw"}})


@dataclass
class EvaluateConfig:
    """Evaluation (`evaluate` stage, one run per method) and the comparison report (`report` stage)."""

    out: str = "build/evaluate"  # per method: videos/, per_clip.csv, traces.npz
    reports: str = "reports/evaluate"  # per method: <method>.json (DVC metrics)
    report: str = "reports/report"  # comparison table, plots, side-by-side videos
    split: str = "test"
    max_clips: int = 0  # 0: every clip of the split
    device: str = "cpu"
    videos: int = 2  # side-by-side comparison videos in the report
    # spacex.evaluate.protocol.Protocol fields: fps, sample_rate, crop_size, crop_margin, paste_order
    protocol: dict = field(default_factory=dict)
    # spacex.evaluate.baselines.BaselinesConfig fields: wav2lip / makeittalk / pcavs {repo, python, checkpoint,
    # ...}, folders {name: {root, pattern, offset}}
    baselines: dict = field(default_factory=dict)


@dataclass
class WandbConfig:
    """Weights & Biases (spacex.tracking): every run of the kit (training, ablations, report) goes to this project;
    the mode comes from WANDB_MODE (offline unless set; disabled: no run)."""

    project: str = "spacex-kit"


@dataclass
class Config:
    profile: str = "smoke"
    wandb: WandbConfig = field(default_factory=WandbConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    s2l: S2LConfig = field(default_factory=S2LConfig)
    posegen: PoseGenConfig = field(default_factory=PoseGenConfig)
    fv2v: FV2VConfig = field(default_factory=FV2VConfig)
    l2l: L2LConfig = field(default_factory=L2LConfig)
    animate: AnimateConfig = field(default_factory=AnimateConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)

    def to_dict(self) -> dict:
        return as_dict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def build(cls, data: dict, where: str):
    """A (nested) dataclass from a mapping, refusing unknown and derived keys: also for sections that later
    stages type themselves (e.g. evaluate.protocol), so config.py does not import them."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(fields)})")
    kwargs = {}
    for k, v in data.items():
        if DERIVED in fields[k].metadata:
            raise ConfigError(f"{where}.{k}: not a config key: training sets it from {fields[k].metadata[DERIVED]}")
        t = hints[k]
        kwargs[k] = build(t, v, f"{where}.{k}") if dataclasses.is_dataclass(t) else v
    return cls(**kwargs)


def as_dict(obj) -> dict:
    """A config dataclass as plain data, without derived fields: what a profile may hold (build(as_dict(x)) == x
    up to derived fields)."""
    out = {}
    for f in dataclasses.fields(obj):
        if DERIVED in f.metadata:
            continue
        v = getattr(obj, f.name)
        out[f.name] = as_dict(v) if dataclasses.is_dataclass(v) else json.loads(json.dumps(v))
    return out


def find_params(start: str | Path = ".") -> Path:
    """params.yaml in `start` or its parents (so notebooks run from notebooks/ find it)."""
    p = Path(start).resolve()
    for d in [p, *p.parents]:
        if (d / "params.yaml").exists():
            return d / "params.yaml"
    raise FileNotFoundError(f"no params.yaml in {p} or its parents")


def load(profile: str | None = None, params: str | Path | None = None, overrides: dict | None = None) -> Config:
    path = Path(params) if params else find_params()
    raw = yaml.safe_load(path.read_text())
    profile = profile or raw.get("profile", "smoke")
    profiles = raw.get("profiles", {})
    if profile not in profiles:
        raise ConfigError(f"profile {profile!r} not in {path} (have: {sorted(profiles)})")
    data = profiles[profile] or {}
    where = f"profiles.{profile}"
    for key in dvc_tracked(path.parent / "dvc.yaml"):
        node = data
        for i, k in enumerate(key.split(".")):
            if not isinstance(node, dict) or k not in node:
                missing = ".".join(key.split(".")[:i + 1])
                raise ConfigError(f"{where}.{missing}: missing: dvc.yaml tracks {where}.{key}, so every profile must "
                                  f"state it (an empty mapping {{}} takes the defaults)")
            node = node[k]
    data = _override(data, overrides)
    data["profile"] = profile
    return build(Config, data, where)


def dvc_tracked(dvc_yaml: Path) -> list[str]:
    """The profile keys dvc.yaml's stages track (`profiles.${profile}.X` -> "X"); none without a dvc.yaml."""
    if not dvc_yaml.exists():
        return []
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {})
    prefix = "profiles.${profile}."
    keys = {p[len(prefix):] for st in stages.values() for p in st.get("params", []) if isinstance(p, str)
            and p.startswith(prefix)}
    return sorted(keys)


def with_overrides(cfg: Config, overrides: dict) -> Config:
    """A copy of cfg with dotted-key overrides applied (e.g. {"s2l.space": "raw"}), checked like params.yaml."""
    return build(Config, _override(cfg.to_dict(), overrides), f"profiles.{cfg.profile}")


def _override(data: dict, overrides: dict | None) -> dict:
    data = json.loads(json.dumps(data))  # deep copy
    for dotted, value in (overrides or {}).items():
        node = data
        *head, last = dotted.split(".")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return data


def repo_root(params: str | Path | None = None) -> Path:
    return (Path(params) if params else find_params()).resolve().parent
