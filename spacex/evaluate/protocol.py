"""The one protocol every method is scored under (EVALUATION.md): face crop, resolution, fps, audio rate, and
the frame alignment of each method against ground truth.

    protocol = Protocol()                                  # 25 fps, 16 kHz mono, 128 px crops
    box, gt_size = gt_box("clips/test_000.mp4", protocol)  # one fixed square box from the ground truth
    gt = load_for_eval("clips/test_000.mp4", protocol, box, gt_size)
    gen = load_for_eval("wav2lip/test_000.mp4", protocol, box, gt_size)
    offset = estimate_offset(gen.frames, gt.frames)        # generated frame j matches GT frame j + offset
    gen_frames, gt_frames = align(gen.frames, gt.frames, offset)

Why one box from the ground truth, applied to every method: PSNR/SSIM/LPIPS/FID/CPBD all change with the crop
(how much background, how much hair, the scale of the mouth). If each method were cropped by its own detector,
a method whose output drifts or blurs would also get a different crop, and the numbers would mix "what it
rendered" with "where the detector put the box". So the box is found once, on the ground truth, and every
method's frames are first resized to the ground-truth frame size (methods render the same photo, so the same
pixel grid) and then cut with that same box. Adapters in `baselines/` return full frames in the photo's
framing for this reason (MakeItTalk and PC-AVS crops are pasted back).

Frame-rate conversion picks, for each output time k / fps, the decoded frame with the nearest presentation
time (ties go to the earlier frame): no blending, so a sharpness metric is not flattered or penalised by
interpolation. 30 fps -> 25 fps drops one frame in six; 62.5 fps -> 25 fps keeps every 2nd or 3rd.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from spacex import media
from spacex.media import MediaError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in ground-truth pixels, square, inside the frame


@dataclass
class Protocol:
    """What every method is scored at. The paper-scale profile uses crop_size=256; 128 keeps tests and the smoke
    profile fast. Report the crop size with every number: CPBD and LMD (pixels) depend on it."""

    fps: int = 25  # video frame rate of every scored video (SyncNet and the baselines assume 25)
    sample_rate: int = 16_000  # mono audio rate (SyncNet MFCCs, Wav2Lip, MakeItTalk and PC-AVS all use 16 kHz)
    crop_size: int = 128  # side of the square face crop the image metrics see, pixels (paper scale: 256)
    crop_margin: float = 0.25  # face box widened by this fraction of its side on each side, then squared
    # spline order of the warp that pastes a method's face crops back into the photo's framing (SPACEx, the
    # renderer control, cropped baselines): 3 bicubic, which loses less than bilinear on every metric for a
    # perfect re-renderer (CPBD 0.076 vs 0.067, mouth LMD 0.460 vs 0.484 px: benchmarks/renderer_floor.py)
    paste_order: int = 3


@dataclass
class EvalVideo:
    frames: np.ndarray  # (T, S, S, 3) uint8 RGB face crops at protocol.fps, S = protocol.crop_size
    audio: np.ndarray  # (N,) float32 mono at protocol.sample_rate
    fps: int
    sample_rate: int
    source: str  # the file the frames came from
    notes: list[str] = field(default_factory=list)  # what was done to it (resampling, resizing, external audio)

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


# ---------------------------------------------------------------------------------------------- decoding

def resample_stream(stream: Iterable[tuple[float, np.ndarray]], fps: float,
                    n_out: int | None = None) -> Iterator[np.ndarray]:
    """Nearest-presentation-time frame-rate conversion of a (time, frame) stream (times ascending, seconds).

    Output frame k is the input frame whose time is nearest k / fps (ties: the earlier one); output times before
    the first input time show the first frame (a stream placed late on the timeline). With n_out=None
    the output covers the input's duration (last time + one input frame interval); with n_out given exactly
    n_out frames come out: the last input frame is repeated past the end, and extra input is not decoded."""
    k, prev, dt = 0, None, None  # prev: (time, frame) of the last input frame seen
    for t, frame in stream:
        if prev is None:  # targets before the first frame (a stream that starts late) show the first frame
            while (n_out is None or k < n_out) and k / fps < t - 1e-9:
                yield frame
                k += 1
        else:
            dt = t - prev[0] if dt is None else dt
            # every target time up to the midpoint belongs to prev (ties go to prev, the earlier frame)
            while (n_out is None or k < n_out) and k / fps <= (prev[0] + t) / 2 + 1e-9:
                yield prev[1]
                k += 1
        if n_out is not None and k >= n_out:
            return
        prev = (t, frame)
    if prev is None:
        return
    if n_out is None:
        end = prev[0] + (dt if dt else 1 / fps)  # duration of the input
        n_out = int(np.floor(end * fps + 1e-6))
    while k < n_out:
        yield prev[1]
        k += 1


# ------------------------------------------------------------------------------------------- geometry

def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8 -> (H, W, 3) uint8, bilinear with anti-aliasing when shrinking."""
    if image.shape[:2] == tuple(size):
        return image
    from skimage.transform import resize as sk_resize

    shrink = size[0] < image.shape[0] or size[1] < image.shape[1]
    out = sk_resize(image, size, order=1, anti_aliasing=shrink, preserve_range=True)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def square_box(centre: np.ndarray, side: float, frame_size: tuple[int, int]) -> Box:
    """A square of `side` around `centre` (x, y), shrunk to fit and shifted inside an (H, W) frame."""
    H, W = frame_size
    side = int(round(min(side, H, W)))
    x0 = int(round(centre[0] - side / 2))
    y0 = int(round(centre[1] - side / 2))
    x0 = min(max(x0, 0), W - side)
    y0 = min(max(y0, 0), H - side)
    return x0, y0, x0 + side, y0 + side


def reference_box(gt: np.ndarray | str | Path, margin: float = Protocol.crop_margin, samples: int = 9,
                  min_prob: float = 0.9) -> Box:
    """One fixed square crop box for a clip, from its ground-truth video.

    gt: (T, H, W, 3) uint8 frames or a video path (then only the sampled frames are kept in memory).
    MTCNN runs on `samples` evenly spaced frames. The box covers every detected face box (the union, so a head
    that moves or a jaw that opens stays inside; detections whose centre is more than half a face away from the
    median centre are dropped as outliers), squared on its longer side, widened by `margin` of that side on each
    side, and shifted (and if need be shrunk) to lie inside the frame: every method is cut to the same pixels,
    with no padding."""
    from spacex.preprocess.detect import detect_faces

    def sampled(n: int) -> np.ndarray:  # the same frames whether given frames or a file
        return np.unique(np.linspace(0, n - 1, min(samples, n)).round().astype(int))

    if isinstance(gt, (str, Path)):
        info = media.probe(gt, decode=False)
        keep = set(sampled(info.declared_frames or media.probe(gt).n_frames).tolist())
        frames = np.stack([f for i, (_, f) in enumerate(media.iter_frames(gt)) if i in keep])
    else:
        frames = np.asarray(gt)
        frames = frames[sampled(len(frames))]
    boxes = [b[0] for b, p in detect_faces(frames) if len(b) and p[0] >= min_prob]  # largest face per frame
    if len(boxes) < max(1, len(frames) // 2):
        raise ValueError(f"no face in the ground truth: found on {len(boxes)} of {len(frames)} sampled frames")
    boxes = np.array(boxes)  # (K, 4) x0, y0, x1, y1
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # (K, 2)
    face = np.median(np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    keep = np.linalg.norm(centres - np.median(centres, axis=0), axis=1) <= face / 2
    lo, hi = boxes[keep, :2].min(0), boxes[keep, 2:].max(0)  # union of the kept face boxes
    side = (hi - lo).max()
    return square_box((lo + hi) / 2, side * (1 + 2 * margin), frames.shape[1:3])


def gt_box(path: str | Path, protocol: Protocol) -> tuple[Box, tuple[int, int]]:
    """The reference box of a ground-truth video and its frame size (H, W): the two arguments load_for_eval needs."""
    info = media.probe(path, decode=False)
    return reference_box(path, protocol.crop_margin), (info.height, info.width)


# ---------------------------------------------------------------------------------------------- loading

def load_for_eval(path: str | Path, protocol: Protocol, box: Box | None, gt_size: tuple[int, int] | None = None,
                  audio_path: str | Path | None = None) -> EvalVideo:
    """A video as the metrics see it: face crops at protocol.fps and crop_size, audio at 16 kHz mono.

    box: the clip's reference box (from the ground truth), or None for a video that is already a face crop.
    gt_size: (H, W) of the ground-truth frames; frames of another size are resized to it before cropping, so the
        box means the same pixels for every method. None: the video's own size.
    audio_path: where the audio comes from when the video has none (PC-AVS frames) or to override it.
    Raises MediaError for unreadable or truncated files."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    notes: list[str] = []
    S = protocol.crop_size
    try:
        info = media.probe(path, decode=False)
    except MediaError as e:
        raise MediaError(f"{path}: {e}") from e
    size = tuple(gt_size) if gt_size else (info.height, info.width)
    if (info.height, info.width) != size:
        notes.append(f"resized {info.width}x{info.height} -> {size[1]}x{size[0]} (ground-truth size) before cropping")
    if abs(info.fps - protocol.fps) > 1e-3:
        notes.append(f"resampled {info.fps:g} -> {protocol.fps} fps (nearest presentation time)")

    def crop(frame: np.ndarray) -> np.ndarray:
        frame = resize(frame, size)
        if box is not None:
            x0, y0, x1, y1 = box
            frame = frame[y0:y1, x0:x1]
        return resize(frame, (S, S))

    frames = np.stack([crop(f) for f in resample_stream(media.iter_frames(path), protocol.fps)])  # (T, S, S, 3)

    source = Path(audio_path) if audio_path else path
    if audio_path is None and not info.has_audio:
        raise MediaError(f"{path}: no audio stream (pass audio_path, e.g. the input speech, for frame-only outputs)")
    if audio_path is not None:
        notes.append(f"audio from {source}")
    audio, _ = media.read_audio(source, protocol.sample_rate)  # (N,) float32 mono
    return EvalVideo(frames=frames, audio=audio, fps=protocol.fps, sample_rate=protocol.sample_rate,
                     source=str(path), notes=notes)


# -------------------------------------------------------------------------------------------- alignment

def _motion_features(frames: np.ndarray, size: int = 32) -> np.ndarray:
    """(T, S, S, 3) face crops -> (T, size/2 * size) standardized grayscale of the lower half (mouth and jaw),
    with the clip's mean image removed: what is left is how the face moves, not what it looks like, so a
    generated video with another colour cast or sharpness still lines up with its ground truth."""
    from skimage.transform import resize as sk_resize

    gray = np.asarray(frames, np.float32).mean(-1)  # (T, S, S)
    T, S = gray.shape[:2]
    small = sk_resize(gray[:, S // 2:, :], (T, size // 2, size), order=1, anti_aliasing=True).reshape(T, -1)
    small -= small.mean(0, keepdims=True)
    return small / (small.std() + 1e-6)


def estimate_offset(gen: np.ndarray, gt: np.ndarray, max_shift: int = 4) -> int:
    """The frame offset that best aligns a generated video with its ground truth.

    Sign: generated frame j matches ground-truth frame j + offset (PC-AVS's raw output has offset 2).
    gen, gt: (T, S, S, 3) face crops at the same fps. The score of a shift is the mean absolute difference of
    the mean-removed lower-face features over the overlapping frames; shifts leaving less than half the shorter
    video to compare are not considered."""
    a, b = _motion_features(gen), _motion_features(gt)
    best, best_score = 0, np.inf
    for s in sorted(range(-max_shift, max_shift + 1), key=abs):  # ties go to the smaller shift
        j0, j1 = max(0, -s), min(len(a), len(b) - s)  # gen frames j with 0 <= j + s < len(gt)
        if j1 - j0 < max(2, min(len(a), len(b)) // 2):
            continue
        score = np.abs(a[j0:j1] - b[j0 + s:j1 + s]).mean()
        if score < best_score - 1e-9:
            best, best_score = s, score
    return best


def align(gen: np.ndarray, gt: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair generated frame j with ground-truth frame j + offset; both trimmed to the overlap (equal length)."""
    g0, t0 = max(0, -offset), max(0, offset)
    n = max(0, min(len(gen) - g0, len(gt) - t0))
    return gen[g0:g0 + n], gt[t0:t0 + n]
