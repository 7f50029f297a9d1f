"""Animate a portrait: photo + speech -> talking-head video with sound (the SPACEx inference path).

    from spacex.animate.pipeline import Animator, AnimateOptions
    animator = Animator.from_runs("build/train")                 # the trained checkpoints
    result = animator("photo.jpg", "speech.wav", AnimateOptions(emotion="happy:0.7"))
    result.save("out.mp4")

Steps: the photo's face (MTCNN) and 68 landmarks (dlib) -> its normalized landmarks and head pose; the audio
(any format PyAV reads, any rate, mono or stereo) -> 40 MFCCs per output frame; Speech2Landmarks ->
normalized landmarks per frame; blinks edited into the eye landmarks; head pose (predicted by PoseGen, or
fixed) -> posed landmarks; Landmarks2Latents -> face-vid2vid keypoints; face-vid2vid renders each frame from
the photo's appearance volume, computed once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spacex import media
from spacex.corpus.synth.face import blink_track, close_eyes
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.models.l2l import Landmarks2Latents
from spacex.models.posegen import PoseGen
from spacex.models.s2l import Speech2Landmarks
from spacex.preprocess import audio as audiofeat
from spacex.preprocess import emotion as emo
from spacex.preprocess import pose as posefit
from spacex.preprocess.backends import ClipInput, make_backend
from spacex.preprocess.detect import SkipClip, track_face
from spacex.train.fv2v import crop_frames, to_float
from spacex.train.trainer import load_model


class AnimateError(ValueError):
    """Input that cannot be animated, with the reason."""


@dataclass
class AnimateOptions:
    emotion: str = "neutral:1.0"  # label mix with intensities, e.g. "happy:0.7,surprise:0.3"
    pose: str = "predicted"  # predicted (PoseGen, seeded) | fixed (the photo's) | video:PATH | file:PATH.npy
    pose_seed: int = 0
    blink: str = "auto"  # auto (natural rate, seeded) | off | comma-separated times in seconds
    fps: float = 30.0
    sample_rate: int = 16_000  # analysis rate for the MFCCs


@dataclass
class AnimateResult:
    frames: np.ndarray | None  # (T, S, S, 3) uint8; None when streamed to `video`
    audio: np.ndarray  # (N,) float32 mono
    sample_rate: int
    fps: float
    normalized_landmarks: np.ndarray  # (T, 68, 3)
    posed_landmarks: np.ndarray  # (T, 68, 3) photo pixels
    keypoints: np.ndarray  # (T, K, 3) face-vid2vid driving keypoints
    pose: np.ndarray  # (T, 3) degrees [yaw, pitch, roll]
    timings: dict = field(default_factory=dict)
    video: Path | None = None  # the mp4, when the call streamed to it

    def audio48(self, n_frames: int) -> np.ndarray:
        return media.resample_audio(self.audio, self.sample_rate, 48_000)[: int(n_frames / self.fps * 48_000)]

    def save(self, path: str | Path, intermediates: bool = False) -> Path:
        """The mp4 (H.264 + AAC, written atomically); with `intermediates`, an .npz of the arrays beside it."""
        if self.frames is None:
            raise ValueError(f"frames were streamed to {self.video}; nothing left in memory to save")
        out = media.write_video(path, self.frames, self.fps, self.audio48(len(self.frames)), 48_000)
        if intermediates:
            self.save_intermediates(path)
        return out

    def save_intermediates(self, video_path: str | Path) -> Path:
        """normalized and posed landmarks, keypoints and pose as an .npz beside the video."""
        p = Path(video_path).with_suffix(".npz")
        np.savez(p, normalized_landmarks=self.normalized_landmarks, posed_landmarks=self.posed_landmarks,
                 keypoints=self.keypoints, pose=self.pose)
        return p


class Animator:
    def __init__(self, fv2v: FaceVid2Vid, s2l: Speech2Landmarks, l2l: Landmarks2Latents, posegen: PoseGen | None,
                 emotions: list[str], device: str = "cpu"):
        self.fv2v, self.s2l, self.l2l, self.posegen = fv2v, s2l, l2l, posegen
        self.emotions, self.device = emotions, torch.device(device)
        self.backend = make_backend("dlib")

    @classmethod
    def from_runs(cls, runs: str | Path = "build/train", emotions: list[str] | None = None,
                  device: str = "cpu") -> "Animator":
        runs = Path(runs)
        load = lambda name, build: load_model(runs / name / "last.pt", build, device)[0].to(device)  # noqa: E731
        posegen = load("posegen", PoseGen) if (runs / "posegen" / "last.pt").exists() else None
        return cls(load("fv2v", FaceVid2Vid), load("s2l", Speech2Landmarks), load("l2l", Landmarks2Latents),
                   posegen, emotions or emo.DEFAULT_EMOTIONS, device)

    @torch.no_grad()
    def __call__(self, image: str | Path | np.ndarray, audio: str | Path, options: AnimateOptions = AnimateOptions(),
                 stream_to: str | Path | None = None) -> AnimateResult:
        """Animate; with `stream_to`, frames go to that mp4 as they are rendered (memory does not grow with the
        clip's length: only per-frame landmarks and keypoints are kept) and `result.frames` is None."""
        t0, timings = time.perf_counter(), {}
        photo = self._read_image(image)
        try:
            track = track_face(photo[None], every=1, min_face=32)
            lms = self.backend(ClipInput("photo", Path("."), photo[None], track))  # (1, 68, 3)
        except SkipClip as e:
            raise AnimateError(f"photo: {e}") from e
        fit = posefit.fit_pose(lms)
        src_norm = posefit.normalize(lms, fit)  # (1, 68, 3)
        timings["photo"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        try:
            wav, sr = media.read_audio(audio, options.sample_rate)
        except (media.MediaError, OSError) as e:
            raise AnimateError(f"audio: cannot read {audio} ({e})") from e
        try:
            audiofeat.check_audio(wav, sr, min_seconds=1.0 / options.fps)
        except audiofeat.AudioError as e:
            raise AnimateError(f"audio: {e}") from e
        T = int(len(wav) / sr * options.fps)
        mfcc = audiofeat.mfcc_per_frame(wav, sr, options.fps, T)
        emotion, _ = emo.vector(options.emotion, None, self.emotions)
        d = self.device
        mf, em = torch.from_numpy(mfcc[None]).to(d), torch.from_numpy(emotion[None]).to(d)
        timings["audio"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        norm, _ = self.s2l(mf, torch.from_numpy(src_norm.astype(np.float32)).to(d), em)
        norm = norm[0].cpu().numpy().astype(np.float64)  # (T, 68, 3)
        norm = self._blink(norm, options, T)
        rotation = np.repeat(fit.rotation, T, 0)
        translation = np.repeat(fit.translation, T, 0)
        scale = np.repeat(fit.scale, T, 0)
        if options.pose == "predicted":
            if self.posegen is None:
                raise AnimateError("pose 'predicted' needs a trained PoseGen (build/train/posegen/last.pt)")
            g = torch.Generator().manual_seed(options.pose_seed)
            delta = self.posegen.sample(mf, em, n=1, generator=g)[0, 0].cpu().numpy()  # (T, 6)
        elif options.pose.startswith(("video:", "file:")):
            kind, _, path = options.pose.partition(":")
            delta = self.pose_from_video(path, T, options.fps) if kind == "video" else self.pose_from_file(path, T)
        elif options.pose == "fixed":
            delta = np.zeros((T, 6))
        else:
            raise AnimateError(f"unknown pose mode {options.pose!r} (predicted | fixed | video:PATH | file:PATH)")
        # Pose features (spacex.models.posegen) are relative to the first frame: apply them to the photo's pose.
        rotation = rotation + delta[:, :3] * 10
        translation = translation + np.c_[delta[:, 3:5] * scale[:, None], np.zeros(T)]
        scale = scale * np.exp(delta[:, 5])
        posed = posefit.pose(norm, posefit.Pose(rotation, translation, scale))  # (T, 68, 3) photo pixels
        timings["landmarks"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        size = self.fv2v.args.resolution
        source = to_float(crop_frames(photo[None], track.box, size)).to(d)  # (1, 3, S, S)
        src = self.fv2v.source_features(source)
        x0, y0, x1, y1 = track.box
        centre, side = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0]), x1 - x0
        rel = (posed - centre) / side * 2
        motion = rel - ((lms[0] - centre) / side * 2)[None]  # landmark motion from the photo's
        kp, _ = self.l2l(torch.from_numpy(motion[None].astype(np.float32)).to(d), mf, src["kp"], em)
        kp = kp[0]  # (T, K, 3)
        timings["keypoints"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = AnimateResult(None, wav, sr, options.fps, norm, posed, kp.cpu().numpy(), rotation, timings)

        def frames(chunk: int = 16):  # batched rendering; the appearance volume was computed once
            for i in range(0, T, chunk):
                imgs = self.fv2v.render_sequence(source, src, kp[i:i + chunk], chunk)
                yield from (imgs.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()

        if stream_to is not None:
            result.video = media.write_video(stream_to, frames(), options.fps, result.audio48(T), 48_000)
        else:
            result.frames = np.stack(list(frames()))
        timings["render"] = time.perf_counter() - t0
        return result

    def pose_from_video(self, path: str | Path, T: int, fps: float) -> np.ndarray:
        """Head motion of a video (its pose relative to its first frame) as (T, 6) pose features, resampled to
        `fps` and held at the last value when the video is shorter than the speech."""
        from spacex.train.posegen import pose_features

        try:
            frames, vfps = media.read_frames(path)
            track = track_face(frames, every=5, min_face=32)
            lms = self.backend(ClipInput("pose_video", Path("."), frames, track))
        except (media.MediaError, SkipClip, OSError) as e:
            raise AnimateError(f"pose video {path}: {e}") from e
        fit = posefit.fit_pose(lms, smoothing=1.0)
        feats = pose_features(fit.rotation, fit.translation, fit.scale)  # (Tv, 6)
        idx = np.minimum((np.arange(T) * vfps / fps).round().astype(int), len(feats) - 1)
        return feats[idx]

    @staticmethod
    def pose_from_file(path: str | Path, T: int) -> np.ndarray:
        """A (N, 3) [yaw, pitch, roll] degrees or (N, 6) pose-feature sequence (.npy, or .csv / .txt with one
        row per frame), relative to its first row; held at the last row when shorter than the speech."""
        from spacex.train.posegen import pose_features

        try:
            seq = np.load(path) if str(path).endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)
        except (OSError, ValueError) as e:
            raise AnimateError(f"pose file {path}: {e}") from e
        seq = np.asarray(seq, np.float64)
        if seq.ndim != 2 or seq.shape[1] not in (3, 6) or len(seq) == 0:
            raise AnimateError(f"pose file {path}: expected rows of 3 angles (or 6 pose features), got {seq.shape}")
        if seq.shape[1] == 3:
            seq = pose_features(seq, np.zeros((len(seq), 3)), np.ones(len(seq)))
        else:
            seq = seq - seq[:1]
        return seq[np.minimum(np.arange(T), len(seq) - 1)]

    @staticmethod
    def _read_image(image) -> np.ndarray:
        if isinstance(image, np.ndarray):
            arr = image
        else:
            from skimage import io

            try:
                arr = io.imread(image)
            except (OSError, ValueError) as e:
                raise AnimateError(f"photo: cannot read {image} ({e})") from e
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, -1)
        return np.ascontiguousarray(arr[..., :3].astype(np.uint8))

    @staticmethod
    def _blink(norm: np.ndarray, options: AnimateOptions, T: int) -> np.ndarray:
        if options.blink == "off":
            return norm
        if options.blink == "auto":
            closure, _ = blink_track(T / options.fps, options.fps, np.random.default_rng(options.pose_seed))
            closure = closure[:T]
        else:
            t = np.arange(T) / options.fps
            closure = np.zeros(T)
            for s in (float(x) for x in options.blink.split(",") if x.strip()):
                closure = np.maximum(closure, np.interp(t, [s - 0.09, s, s + 0.04, s + 0.2], [0, 1, 1, 0],
                                                        left=0, right=0))
        return close_eyes(norm, closure)
