"""Animate a portrait: photo + speech -> talking-head video with sound (the SPACEx inference path).

    from spacex.animate.pipeline import Animator, AnimateOptions
    animator = Animator.from_runs("build/train")                 # the trained checkpoints
    result = animator("photo.jpg", "speech.wav", AnimateOptions(emotion="happy:0.7"))
    result.save("out.mp4")

Steps: the photo's face (MTCNN) and 68 landmarks (dlib) -> its normalized landmarks and head pose; the audio
(any format PyAV reads, any rate, mono or stereo) -> 40 MFCCs per output frame; Speech2Landmarks ->
normalized landmarks per frame; blinks edited into the eye landmarks; head pose (predicted by PoseGen, or
fixed) -> posed landmarks; gaze (the photo's, natural, or set; `spacex.gaze`); Landmarks2Latents -> face-vid2vid
keypoints; face-vid2vid renders each frame from
the photo's appearance volume, computed once.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from spacex import gaze as gazemod
from spacex import media
from spacex.config import AnimateConfig
from spacex.errors import KitError
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.models.l2l import Landmarks2Latents
from spacex.models.posegen import PoseGen, pose_features
from spacex.motion import blink_track, close_eyes, gaze_track
from spacex.models.s2l import Speech2Landmarks
from spacex.preprocess import audio as audiofeat
from spacex.preprocess import emotion as emo
from spacex.preprocess import pose as posefit
from spacex.preprocess.backends import ClipInput, make_backend
from spacex.preprocess.detect import FaceTrack, SkipClip, detect_faces, track_face
from spacex.checkpoint import load_model
from spacex.crop import crop_frames, to_float, to_uint8


class AnimateError(KitError, ValueError):
    """Input that cannot be animated, with the reason."""


ANALYSIS_SIDE = 1024  # photos larger than this are analysed (faces, landmarks) downscaled; the crop is the original's


@dataclass
class AnimateOptions:
    emotion: str = "neutral:1.0"  # label mix with intensities, e.g. "happy:0.7,surprise:0.3"
    pose: str = "predicted"  # predicted (PoseGen, seeded) | fixed (the photo's) | video:PATH | file:PATH.npy
    pose_seed: int = 0
    blink: str = "auto"  # auto (natural rate, seeded) | off | comma-separated times in seconds
    gaze: str = "photo"  # photo (held) | auto (fixations + saccades, seeded) | left|right|up|down|center | X,Y |
    #                      file:PATH (.npy / .csv, one X,Y row per frame); X, Y in eye widths (spacex.gaze)
    fps: float = 30.0
    sample_rate: int | None = None  # analysis rate for the MFCCs; None: the checkpoints' (16 kHz without one)
    chunk: int = 300  # frames per inference chunk (recurrent state carried across chunks)
    faces: str = "largest"  # several faces in the photo: "largest" (with a warning) | "error"
    min_face: int = 32  # smallest face side in pixels that is animated


@dataclass
class AnimateResult:
    frames: np.ndarray | None  # (T, S, S, 3) uint8; None when streamed to `video`
    audio_path: Path  # the speech (absolute); save() and the panels read the mp4's sound from it at 48 kHz
    sample_rate: int  # the rate the MFCCs were computed at
    fps: float
    normalized_landmarks: np.ndarray  # (T, 68, 3)
    posed_landmarks: np.ndarray  # (T, 68, 3) photo pixels
    keypoints: np.ndarray  # (T, K, 3) face-vid2vid driving keypoints
    pose: np.ndarray  # (T, 3) degrees [yaw, pitch, roll]
    gaze: np.ndarray | None = None  # (T, 2) eye widths, what Landmarks2Latents was given (spacex.gaze)
    photo_gaze: np.ndarray | None = None  # (2,) the photo's own gaze, as detected
    timings: dict = field(default_factory=dict)
    video: Path | None = None  # the mp4, when the call streamed to it
    photo: np.ndarray | None = None  # (H, W, 3) the animated photo
    box: np.ndarray | None = None  # (4,) its face crop box x0, y0, x1, y1

    def save_side_by_side(self, video_path: str | Path, out: str | Path | None = None, size: int = 256) -> Path:
        """[normalized landmarks | posed landmarks on the photo | keypoints | output] as an mp4 with the audio
        (default OUT.panels.mp4 beside the video)."""
        from spacex.animate.panels import side_by_side

        out = out or Path(video_path).with_suffix(".panels.mp4")
        return side_by_side(self, video_path, self.photo, self.box, out, size)

    def iris(self) -> np.ndarray:
        """Iris centres (T, 2, 2) in photo pixels implied by the posed landmarks and the gaze."""
        if self.gaze is None:
            raise ValueError("this result has no gaze")
        return gazemod.iris_points(self.posed_landmarks[..., :2], self.gaze)

    def audio48(self, n_frames: int):
        """The speech at 48 kHz for n_frames of video, as a stream of blocks (what write_video muxes)."""
        return media.take(media.iter_audio(self.audio_path, 48_000), int(n_frames / self.fps * 48_000))

    def save(self, path: str | Path, intermediates: bool = False) -> Path:
        """The mp4 (H.264 + AAC, written atomically); with `intermediates`, an .npz of the arrays beside it."""
        if self.frames is None:
            raise ValueError(f"frames were streamed to {self.video}; nothing left in memory to save")
        out = media.write_video(path, self.frames, self.fps, self.audio48(len(self.frames)), 48_000)
        if intermediates:
            self.save_intermediates(path)
        return out

    def save_intermediates(self, video_path: str | Path) -> Path:
        """normalized and posed landmarks, keypoints, pose, gaze, iris centres in photo pixels and the face crop
        box (x0, y0, x1, y1 in photo pixels: the rendered frames show that square of the photo) as an .npz beside
        the video."""
        p = Path(video_path).with_suffix(".npz")
        extra = {} if self.box is None else {"box": np.asarray(self.box)}  # where the frames sit in the photo
        if self.gaze is not None:
            extra.update(gaze=self.gaze, iris=self.iris())
        np.savez(p, normalized_landmarks=self.normalized_landmarks, posed_landmarks=self.posed_landmarks,
                 keypoints=self.keypoints, pose=self.pose, **extra)
        return p


@dataclass
class _Photo:
    """Step 1's output: the photo and what every frame is made relative to."""
    image: np.ndarray  # (H, W, 3) uint8
    track: FaceTrack  # the face crop box
    fit: posefit.Pose  # its head pose (1 frame)
    seen_iris: bool
    gaze: np.ndarray  # (2,) eye widths, as detected
    source_image: torch.Tensor  # (1, 3, S, S) the face crop in [0, 1]
    source: dict  # face-vid2vid source features: appearance volume, canonical and source keypoints
    centre: np.ndarray  # (3,) crop box centre, photo pixels
    side: float  # crop box side, photo pixels
    relative: np.ndarray  # (68, 3) photo landmarks in crop units
    normalized: torch.Tensor  # (1, 68, 3) normalized landmarks, Speech2Landmarks' reference


@dataclass
class _Controls:
    """Step 2's output: the speech and every per-frame control."""
    audio: media.AudioWindow  # the speech at sample_rate, read front to back as the chunks need it
    sample_rate: int
    n_samples: int
    n_frames: int
    emotion: torch.Tensor  # (1, E)
    closure: np.ndarray  # (T,) eye closure in [0, 1]
    gaze: np.ndarray  # (T, 2) eye widths
    pose_delta: np.ndarray | None  # (T, 6) pose features relative to the photo; None: PoseGen, chunk by chunk
    noise: torch.Tensor | None  # (1, Z) PoseGen's seeded noise


def _agreed_features(runs: Path, per_stage: dict[str, dict]) -> dict:
    """The feature settings every checkpoint was trained with; checkpoints that disagree are an error naming both."""
    agreed: dict = {}
    owner: dict[str, str] = {}
    for stage, feats in per_stage.items():
        for k, v in feats.items():
            if k == "backend" and stage == "fv2v":
                continue  # face-vid2vid sees frames, not landmarks: its store's backend does not bind it
            if k in agreed and agreed[k] != v and v is not None and agreed[k] is not None:
                raise AnimateError(f"{runs / owner[k] / 'last.pt'} was trained with {k}={agreed[k]!r} but "
                                   f"{runs / stage / 'last.pt'} with {k}={v!r}: retrain one on the other's store")
            if v is not None:
                agreed.setdefault(k, v)
                owner.setdefault(k, stage)
    return agreed


def _read_rows(path: str | Path, what: str) -> np.ndarray:
    """A per-frame sequence file: .npy, or .csv / .txt with one comma-separated row per frame -> float64 array."""
    try:
        seq = np.load(path) if str(path).endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as e:
        raise AnimateError(f"{what} {path}: {e}") from e
    return np.asarray(seq, np.float64)


# The renderer's arithmetic. fp32: exact. bf16conv: fp32 tensors whose convolutions oneDNN computes with bf16
# arithmetic (torch.backends.mkldnn.conv.fp32_precision; CPUs with AMX-BF16 / AVX512-BF16; on CUDA convolutions
# already run in TF32 by PyTorch's default, so it is fp32 there). bf16: autocast (tensors in bf16). auto: the
# fastest that passed the precision check on trained weights (benchmarks/precision_check.py: bf16 passed, 3.0x
# faster on an AMX CPU; bf16conv, 2.0x, fell just outside): bf16 on a CPU that computes bf16 natively, else fp32
# (on CUDA too: bf16 there is unchecked).
PRECISIONS = ("auto", "fp32", "bf16conv", "bf16")


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively (CUDA with bf16; a CPU with AMX-BF16 or AVX512-BF16), so that
    autocast speeds the renderer up instead of emulating bf16 in fp32 (slower there). `auto` uses it on CPUs
    only."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


@contextmanager
def mkldnn_conv_precision(mode: str):
    """oneDNN's fp32 convolution arithmetic set to `mode` (e.g. "bf16") while active; restored after."""
    conv = torch.backends.mkldnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = mode
    try:
        yield
    finally:
        conv.fp32_precision = before


# The feature settings of checkpoints saved without them (and of the smoke profile): the library defaults.
DEFAULT_FEATURES = {"backend": "dlib", "sample_rate": 16_000, "n_mfcc": 40, "n_fft": 1024, "n_mels": 80}


class Animator:
    def __init__(self, fv2v: FaceVid2Vid, s2l: Speech2Landmarks, l2l: Landmarks2Latents, posegen: PoseGen | None,
                 emotions: list[str], device: str = "cpu", features: dict | None = None, precision: str = "fp32",
                 render_batch: int = AnimateConfig.render_batch):
        """`features`: the training store's settings (spacex.preprocess.store.features, saved in checkpoints);
        missing ones take DEFAULT_FEATURES. `precision` (PRECISIONS): the per-frame renderer's arithmetic;
        keypoints and the sequence models stay fp32. The library's default is fp32 (exact); `spacex animate` and
        the explorer pass auto. `render_batch`: frames per renderer call."""
        if precision not in PRECISIONS:
            raise AnimateError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if render_batch < 1:
            raise AnimateError(f"render_batch must be at least 1, got {render_batch}")
        self.render_batch = render_batch  # frames per renderer call (benchmarks/render_batch.py)
        self.fv2v, self.s2l, self.l2l, self.posegen = fv2v, s2l, l2l, posegen
        self.features = {**DEFAULT_FEATURES, **{k: v for k, v in (features or {}).items() if v is not None}}
        self.emotions, self.device = list(self.features.get("emotions") or emotions), torch.device(device)
        if precision == "auto":
            precision = "bf16" if self.device.type == "cpu" and fast_bf16(self.device) else "fp32"
        self.precision = precision
        # SynthTalk's exact landmarks exist only for SynthTalk: a photo gets the closest real detector
        backend = self.features["backend"]
        self.backend = make_backend("dlib" if backend == "groundtruth" else backend, str(self.device))

    @classmethod
    def from_runs(cls, runs: str | Path = "build/train", emotions: list[str] | None = None,
                  device: str = "cpu", precision: str = "fp32",
                  render_batch: int = AnimateConfig.render_batch) -> "Animator":
        runs = Path(runs)
        if not runs.is_dir():
            raise AnimateError(f"no trained stages in {runs}: train them first (make repro, or dvc repro) or pass "
                               "--runs FOLDER with fv2v/, s2l/, l2l/ (and posegen/) run folders")
        names = {"fv2v": FaceVid2Vid, "s2l": Speech2Landmarks, "l2l": Landmarks2Latents, "posegen": PoseGen}
        loaded = {n: load_model(runs / n / "last.pt", build, device) for n, build in names.items()
                  if n != "posegen" or (runs / n / "last.pt").exists()}
        features = _agreed_features(runs, {n: ckpt.get("features") or {} for n, (_, ckpt) in loaded.items()})
        if emotions is not None and features.get("emotions") not in (None, list(emotions)):
            raise AnimateError(f"emotions {list(emotions)} differ from the order the checkpoints were trained with "
                               f"({features['emotions']})")
        nets = {n: model.to(device) for n, (model, _) in loaded.items()}
        return cls(nets["fv2v"], nets["s2l"], nets["l2l"], nets.get("posegen"), emotions or emo.DEFAULT_EMOTIONS,
                   device, features, precision, render_batch)

    def rendering(self):
        """The context the per-frame renderer (motion field + generator) runs in: bf16 autocast, oneDNN's bf16
        convolutions (bf16conv, CPU), or nothing for fp32. Keypoints and head pose are always exact fp32: the
        per-video features cost nothing per frame, and bf16 keypoints read from frames (the renderer control)
        jitter (+12% jitter, +0.03 px mouth LMD, measured)."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.precision == "bf16conv" and self.device.type == "cpu":
            return mkldnn_conv_precision("bf16")
        return nullcontext()

    def render(self, image: torch.Tensor, src: dict, kps: torch.Tensor, chunk: int | None = None) -> np.ndarray:
        """Frames (T, S, S, 3) uint8 for driving keypoints (T, K, 3) from a source's features (fp32), `chunk`
        (default `render_batch`) frames per renderer call."""
        with self.rendering():
            imgs = self.fv2v.render_sequence(image, src, kps, chunk or self.render_batch)
        return to_uint8(imgs)

    @torch.no_grad()
    def __call__(self, image: str | Path | np.ndarray, audio: str | Path, options: AnimateOptions = AnimateOptions(),
                 stream_to: str | Path | None = None, progress: bool = False) -> AnimateResult:
        """Animate; with `stream_to`, frames go to that mp4 as they are rendered and `result.frames` is None.

        The clip is processed in chunks of `options.chunk` frames: MFCCs, Speech2Landmarks, PoseGen and
        Landmarks2Latents run per chunk with each LSTM's state carried over and the convolutions fed the
        neighbouring frames they look at, so the result equals whole-clip inference. The speech is never held (it
        is streamed for the MFCCs and again into the mp4), and with `stream_to` neither are the frames: what grows
        with the clip's length is then the per-frame landmark and keypoint arrays of the result (~1.7 KB per
        frame, 3 MB per minute). Without `stream_to`, `result.frames` holds every frame, and save() reads the
        speech again from `audio`, which must still exist."""
        timings = dict.fromkeys(("photo", "audio", "landmarks", "keypoints", "render"), 0.0)
        # 1. the photo: face, landmarks, pose, gaze; face-vid2vid's appearance volume, once per video
        t0 = time.perf_counter()
        photo = self._prepare_photo(image, options)
        timings["photo"] = time.perf_counter() - t0
        # 2. the speech and the controls: audio, emotion, blinks, gaze and head pose per frame
        t0 = time.perf_counter()
        controls = self._prepare_controls(audio, options, photo)
        timings["audio"] = time.perf_counter() - t0
        T = controls.n_frames
        result = AnimateResult(
            frames=None, audio_path=Path(audio).resolve(), sample_rate=controls.sample_rate, fps=options.fps,
            normalized_landmarks=np.zeros((T, 68, 3), np.float32), posed_landmarks=np.zeros((T, 68, 3), np.float32),
            keypoints=np.zeros((T, photo.source["kp"].shape[1], 3), np.float32), pose=np.zeros((T, 3), np.float32),
            gaze=controls.gaze.astype(np.float32), photo_gaze=photo.gaze, timings=timings, photo=photo.image,
            box=photo.track.box)
        # 3-5. per chunk: landmarks (Speech2Landmarks, blinks, pose), keypoints (Landmarks2Latents), frames
        frames = self._render(photo, controls, options, result, progress)
        if stream_to is not None:
            result.video = media.write_video(stream_to, frames, options.fps, result.audio48(T), 48_000)
        else:
            result.frames = np.stack(list(frames))
        return result

    def landmarks_for(self, image: str | Path | np.ndarray, audio: str | Path, emotions: list[str],
                      options: AnimateOptions = AnimateOptions()) -> np.ndarray:
        """Speech2Landmarks alone, for several emotion settings at once -> (len(emotions), T, 68, 3) normalized
        landmarks, before blinks and pose: what the emotion control changes (the emotion-intensity check of the
        animate stage). One batch over the whole clip; no frame is rendered."""
        _, _, _, _, src_norm = self._analyse_photo(image, options)
        window, sr, n, T = self._open_audio(audio, options)
        f, d = self.features, self.device
        try:
            mfcc = self._mfcc(window, sr, n, options.fps, 0, T)  # (T, n_mfcc)
        finally:
            window.close()
        vectors = np.stack([emo.vector(e, None, self.emotions)[0] for e in emotions])  # (B, E)
        B = len(emotions)
        with torch.no_grad():
            out, _ = self.s2l(torch.from_numpy(mfcc[None]).to(d).expand(B, -1, -1),
                              torch.from_numpy(src_norm.astype(np.float32)).to(d).expand(B, -1, -1),
                              torch.from_numpy(vectors).to(d))
        return out.cpu().numpy()

    # ------------------------------------------------------------------------------------------ 1. photo
    def _prepare_photo(self, image, options: AnimateOptions) -> "_Photo":
        img, track, lms, fit, src_norm = self._analyse_photo(image, options)
        seen = gazemod.detect(img[None], lms)
        d = self.device
        source = to_float(crop_frames(img[None], track.box, self.fv2v.args.resolution)).to(d)  # (1, 3, S, S)
        x0, y0, x1, y1 = track.box
        centre, side = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0]), x1 - x0
        return _Photo(image=img, track=track, fit=fit, seen_iris=bool(seen.valid[0]), gaze=seen.gaze[0],
                      source_image=source, source=self.fv2v.source_features(source), centre=centre, side=side,
                      relative=(lms[0] - centre) / side * 2,  # (68, 3) photo landmarks in crop units
                      normalized=torch.from_numpy(src_norm.astype(np.float32)).to(d))

    # --------------------------------------------------------------------------------------- 2. controls
    def _prepare_controls(self, audio, options: AnimateOptions, photo: "_Photo") -> "_Controls":
        window, sr, n, T = self._open_audio(audio, options)
        emotion, _ = emo.vector(options.emotion, None, self.emotions)
        closure = self._blink(options, T)  # (T,)
        if options.gaze.strip().lower() != "photo":
            if not photo.seen_iris:
                warnings.warn("photo: no iris visible (eyes closed or low contrast); gaze edits are made relative to "
                              "the centre", stacklevel=3)
            if not self.l2l.args.gaze_dim:
                warnings.warn("this Landmarks2Latents checkpoint has no gaze input (l2l.model.gaze_dim: 0): the gaze "
                              "control has no effect on the video", stacklevel=3)
        trained_fps = self.features.get("fps")
        if isinstance(trained_fps, (int, float)) and abs(trained_fps - options.fps) > 1e-6:
            warnings.warn(f"the checkpoints were trained on {trained_fps:g} fps clips; animating at {options.fps:g} fps "
                          "changes the motion per frame they learned", stacklevel=3)
        gaze = self._gaze(options, T, photo.gaze)  # (T, 2)
        delta = self._pose_deltas(options, T)  # (T, 6), or None: predicted chunk by chunk
        g = torch.Generator().manual_seed(options.pose_seed)
        z = None if self.posegen is None else torch.randn(1, self.posegen.args.noise_dim, generator=g).to(self.device)
        return _Controls(audio=window, sample_rate=sr, n_samples=n, n_frames=T, emotion=torch.from_numpy(emotion[None]).to(self.device),
                         closure=closure, gaze=gaze, pose_delta=delta, noise=z)

    # --------------------------------------------------------------------------- 3. landmarks, 4. keypoints
    def _chunk_keypoints(self, s: int, e: int, photo: "_Photo", c: "_Controls", state: dict,
                         options: AnimateOptions, result: AnimateResult) -> torch.Tensor:
        """Frames s..e-1 -> driving keypoints (e - s, K, 3); fills the result's per-frame arrays."""
        d, T, timings = self.device, c.n_frames, result.timings
        t0 = time.perf_counter()
        ctx = max(self.s2l.context, self.l2l.context, self.posegen.context if self.posegen else 0)
        lo, hi = max(0, s - ctx), min(T, e + ctx)  # the neighbouring audio the convolutions see
        mfcc = torch.from_numpy(self._mfcc(c.audio, c.sample_rate, c.n_samples, options.fps, lo, hi)[None]).to(d)

        def window(k: int):  # (mfcc, context) for a model that looks k frames each side
            a, b = max(0, s - k), min(T, e + k)
            return mfcc[:, a - lo: b - lo], (s - a, b - e)

        # 3. landmarks: Speech2Landmarks in normalized space, blinks edited in, head pose applied
        m, k = window(self.s2l.context)
        norm, state["s2l"] = self.s2l(m, photo.normalized, c.emotion, state["s2l"], context=k)
        norm = close_eyes(norm[0].cpu().numpy().astype(np.float64), c.closure[s:e])  # (n, 68, 3)
        if c.pose_delta is None:
            m, k = window(self.posegen.context)
            absolute, state["posegen"] = self.posegen.absolute(m, c.emotion, c.noise, state["posegen"], context=k)
            if state["first"] is None:
                state["first"] = absolute[:, :1]
            dl = (absolute - state["first"])[0].cpu().numpy().astype(np.float64)  # (n, 6)
        else:
            dl = c.pose_delta[s:e]
        # Pose features (spacex.models.posegen) are relative to the first frame: apply them to the photo's.
        n, fit = e - s, photo.fit
        scale = np.repeat(fit.scale, n, 0)
        pose = posefit.Pose(np.repeat(fit.rotation, n, 0) + dl[:, :3] * 10,
                            np.repeat(fit.translation, n, 0) + np.c_[dl[:, 3:5] * scale[:, None], np.zeros(n)],
                            scale * np.exp(dl[:, 5]))
        posed = posefit.pose(norm, pose)  # (n, 68, 3) photo pixels
        timings["landmarks"] += time.perf_counter() - t0

        # 4. keypoints: Landmarks2Latents from the landmark and gaze motion relative to the photo's
        t0 = time.perf_counter()
        motion = (posed - photo.centre) / photo.side * 2 - photo.relative[None]
        m, k = window(self.l2l.context)
        gz = torch.from_numpy((c.gaze[s:e] - photo.gaze)[None].astype(np.float32)).to(d)
        kp, state["l2l"] = self.l2l(torch.from_numpy(motion[None].astype(np.float32)).to(d), m, photo.source["kp"],
                                    c.emotion, state["l2l"], context=k, gaze=gz)
        result.normalized_landmarks[s:e], result.posed_landmarks[s:e] = norm, posed
        result.keypoints[s:e], result.pose[s:e] = kp[0].cpu().numpy(), pose.rotation
        timings["keypoints"] += time.perf_counter() - t0
        return kp[0]

    def _mfcc(self, audio: media.AudioWindow, sr: int, n: int, fps: float, lo: int, hi: int) -> np.ndarray:
        """Frames lo..hi-1's MFCCs (hi - lo, n_mfcc) with the checkpoints' settings, from the streamed speech (n
        samples in all): the rows of the whole clip's MFCCs."""
        f = self.features
        a, b = audiofeat.mfcc_span(sr, fps, hi - lo, f["n_fft"], start=lo)
        return audiofeat.mfcc_per_frame(audio.get(a, b), sr, fps, hi - lo, f["n_mfcc"], f["n_fft"], f["n_mels"],
                                        start=lo, offset=a, total=n)

    # ----------------------------------------------------------------------------------------- 5. frames
    def _render(self, photo: "_Photo", c: "_Controls", options: AnimateOptions, result: AnimateResult,
                progress: bool):
        """Yield (S, S, 3) uint8 frames, chunk by chunk; the appearance volume was computed once."""
        state: dict[str, object] = {"s2l": None, "l2l": None, "posegen": None, "first": None}  # carried over
        T = c.n_frames
        bar = tqdm(total=T, unit="frame", desc="animate", disable=not progress)
        try:
            for s in range(0, T, options.chunk):
                kp = self._chunk_keypoints(s, min(T, s + options.chunk), photo, c, state, options, result)
                batch = self.render_batch
                for i in range(0, len(kp), batch):
                    t0 = time.perf_counter()
                    imgs = self.render(photo.source_image, photo.source, kp[i:i + batch])
                    result.timings["render"] += time.perf_counter() - t0
                    bar.update(len(imgs))
                    yield from imgs
        finally:  # also when the consumer stops early or fails: the speech file is closed at once
            c.audio.close()
            bar.close()

    def _analyse_photo(self, image, options: AnimateOptions):
        """The photo's face box, 68 landmarks, head pose and normalized landmarks (1, 68, 3)."""
        photo = self._read_image(image)
        # A large photo is analysed downscaled (MTCNN's image pyramid and dlib's HOG scan grow with the pixel
        # count: 61 s at 6000x6000); boxes and landmarks are scaled back, and the crop is the original's.
        s = min(1.0, ANALYSIS_SIDE / max(photo.shape[:2]))
        small = photo if s == 1.0 else self._downscale(photo, s)
        faces = [p for p in detect_faces(small[None], str(self.device))[0][1] if p >= 0.9]
        if len(faces) > 1:
            if options.faces == "error":
                raise AnimateError(f"photo: {len(faces)} faces (use faces='largest' to animate the largest one)")
            warnings.warn(f"photo: {len(faces)} faces; animating the largest", stacklevel=3)
        try:
            track = track_face(small[None], every=1, min_face=options.min_face * s, second_face_ratio=np.inf,
                                device=str(self.device))
            lms = self.backend(ClipInput("photo", Path("."), small[None], track))  # (1, 68, 3)
        except SkipClip as e:
            raise AnimateError(f"photo: {e}") from e
        if s != 1.0:  # back to the original's pixels (depth is in pixels too)
            lms = lms / s
            track = FaceTrack(box=track.box / s, face_boxes=track.face_boxes / s, face_size=track.face_size / s)
        fit = posefit.fit_pose(lms)
        return photo, track, lms, fit, posefit.normalize(lms, fit)

    def _open_audio(self, audio, options: AnimateOptions) -> tuple[media.AudioWindow, int, int, int]:
        """The speech as a window that streams it at the analysis rate, its rate, its length in samples and the
        number of output frames it spans. It is decoded twice, never held: once here to measure (length,
        loudness), once as the chunks read it, so memory does not grow with the clip's length."""
        sr = options.sample_rate or self.features["sample_rate"]
        n, sum_squares = 0, 0.0
        try:
            for block in media.iter_audio(audio, sr):
                n += len(block)
                sum_squares += float(np.square(block, dtype=np.float64).sum())
        except (media.MediaError, OSError) as e:
            raise AnimateError(f"audio: cannot read {audio} ({e})".replace(f"({audio}: ", "(")) from e
        try:
            audiofeat.check_audio_stats(n, sum_squares, sr, min_seconds=1.0 / options.fps)
        except audiofeat.AudioError as e:
            raise AnimateError(f"audio: {e}") from e
        return media.AudioWindow(media.iter_audio(audio, sr)), sr, n, int(n / sr * options.fps)

    def _pose_deltas(self, options: AnimateOptions, T: int) -> np.ndarray | None:
        """(T, 6) pose features relative to the photo's pose; None for 'predicted' (PoseGen runs per chunk)."""
        if options.pose == "predicted":
            if self.posegen is None:
                raise AnimateError("pose 'predicted' needs a trained PoseGen (build/train/posegen/last.pt)")
            return None
        if options.pose.startswith(("video:", "file:")):
            kind, _, path = options.pose.partition(":")
            return self.pose_from_video(path, T, options.fps) if kind == "video" else self.pose_from_file(path, T)
        if options.pose == "fixed":
            return np.zeros((T, 6))
        raise AnimateError(f"unknown pose mode {options.pose!r} (predicted | fixed | video:PATH | file:PATH)")

    def pose_from_video(self, path: str | Path, T: int, fps: float) -> np.ndarray:
        """Head motion of a video (its pose relative to its first frame) as (T, 6) pose features, resampled to
        `fps` and held at the last value when the video is shorter than the speech."""
        try:
            frames, vfps = media.read_frames(path)
            track = track_face(frames, every=5, min_face=32, device=str(self.device))
            lms = self.backend(ClipInput("pose_video", Path("."), frames, track))
        except (media.MediaError, SkipClip, OSError) as e:
            raise AnimateError(f"pose video {path}: {e}".replace(f"{path}: {path}: ", f"{path}: ")) from e
        fit = posefit.fit_pose(lms, smoothing=1.0)
        feats = pose_features(fit.rotation, fit.translation, fit.scale)  # (Tv, 6)
        idx = np.minimum((np.arange(T) * vfps / fps).round().astype(int), len(feats) - 1)
        return feats[idx]

    @staticmethod
    def pose_from_file(path: str | Path, T: int) -> np.ndarray:
        """A (N, 3) [yaw, pitch, roll] degrees or (N, 6) pose-feature sequence (.npy, or .csv / .txt with one
        row per frame), relative to its first row; held at the last row when shorter than the speech."""
        seq = _read_rows(path, "pose file")
        if seq.ndim != 2 or seq.shape[1] not in (3, 6) or len(seq) == 0:
            raise AnimateError(f"pose file {path}: expected rows of 3 angles (or 6 pose features), got {seq.shape}")
        if seq.shape[1] == 3:
            seq = pose_features(seq, np.zeros((len(seq), 3)), np.ones(len(seq)))
        else:
            seq = seq - seq[:1]
        return seq[np.minimum(np.arange(T), len(seq) - 1)]

    @staticmethod
    def _downscale(photo: np.ndarray, s: float) -> np.ndarray:
        from PIL import Image

        h, w = photo.shape[:2]
        return np.asarray(Image.fromarray(photo).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                        Image.Resampling.LANCZOS))

    @staticmethod
    def _read_image(image) -> np.ndarray:
        """A path (any format, bit depth or mode `media.read_image` reads) or an array -> (H, W, 3) uint8."""
        if not isinstance(image, np.ndarray):
            try:
                return media.read_image(image)
            except media.MediaError as e:
                raise AnimateError(f"photo: {e}") from e
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) == 0:
            raise AnimateError(f"photo: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
        if arr.dtype != np.uint8:  # scale, never wrap: 16-bit 65535 is white, not 255
            if np.issubdtype(arr.dtype, np.integer):
                top = float(np.iinfo(arr.dtype).max)
            elif np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all():
                top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
            else:
                raise AnimateError(f"photo: unsupported pixel type {arr.dtype} (or non-finite values)")
            arr = np.clip(np.round(arr.astype(np.float64) / top * 255), 0, 255).astype(np.uint8)
        arr = np.repeat(arr, 3, -1) if arr.shape[2] == 1 else arr[..., :3]
        return np.ascontiguousarray(arr)

    @staticmethod
    def _gaze(options: AnimateOptions, T: int, photo_gaze: np.ndarray) -> np.ndarray:
        """Gaze per frame (T, 2) in eye widths."""
        spec = options.gaze.strip()
        if spec.lower() == "photo":
            return np.repeat(photo_gaze[None], T, 0)
        if spec.lower() == "auto":  # its own stream: the blink schedule of a seed does not change with gaze
            return gaze_track(T, options.fps, np.random.default_rng([options.pose_seed, 7]))
        if spec.lower().startswith("file:"):
            path = spec[5:]
            seq = _read_rows(path, "gaze file")
            if seq.ndim != 2 or seq.shape[1] != 2 or len(seq) == 0:
                raise AnimateError(f"gaze file {path}: expected rows of X,Y in eye widths, got shape {seq.shape}")
            try:
                gazemod.check(seq, f"gaze file {path}")
            except ValueError as e:
                raise AnimateError(str(e)) from e
            return seq[np.minimum(np.arange(T), len(seq) - 1)]  # held at the last row
        try:
            return np.repeat(np.array([gazemod.parse(spec)]), T, 0)
        except ValueError as e:
            raise AnimateError(f"{e} (or photo | auto | file:PATH)") from e

    @staticmethod
    def _blink(options: AnimateOptions, T: int) -> np.ndarray:
        """Eye closure per frame (T,) in [0, 1]."""
        if options.blink == "off":
            return np.zeros(T)
        if options.blink == "auto":
            return blink_track(T / options.fps, options.fps, np.random.default_rng(options.pose_seed))[0][:T]
        t = np.arange(T) / options.fps
        closure = np.zeros(T)
        try:
            times = [float(x) for x in options.blink.split(",") if x.strip()]
        except ValueError:
            raise AnimateError(f"blink: expected auto, off or times in seconds like 1.2,3.5; got {options.blink!r}")
        for s in times:
            closure = np.maximum(closure, np.interp(t, [s - 0.09, s, s + 0.04, s + 0.2], [0, 1, 1, 0], left=0, right=0))
        return closure
