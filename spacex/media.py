"""Reading and writing video and audio, in one place (PyAV over its bundled FFmpeg).

Every other module decodes, resamples and muxes through here, so container quirks are handled once:
- `probe` decodes a whole file and reports what is really in it (a truncated file has fewer decodable
  frames than its header claims; that is how it is caught).
- `write_video` writes H.264 (yuv420p) + AAC mono to a temporary name and renames it when complete, so a
  killed run never leaves a file that looks finished.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from spacex.errors import KitError
from spacex.files import atomic_path


class MediaError(KitError, ValueError):
    """A media file that cannot be used, with a reason fit for a skip report."""


@dataclass
class MediaInfo:
    path: str
    width: int
    height: int
    fps: float  # average frame rate of the video stream
    n_frames: int  # frames actually decoded
    declared_frames: int  # frames the container header claims (0 when unknown)
    video_duration: float  # n_frames / fps
    video_codec: str
    has_audio: bool
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    audio_duration: float | None  # decoded samples / sample_rate

    def to_dict(self) -> dict:
        return asdict(self)


def _open(path: Path, prefix: str = ""):
    """av.open with a readable MediaError for anything that is not a media file."""
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise MediaError(f"{prefix}not a readable media file ({type(e).__name__}: {e})") from e


def _stream(container, kind: str, prefix: str, required: bool = True):
    """The first video or audio stream, with a decoder; MediaError when it is missing or cannot be decoded (a
    header cut short leaves a stream without codec parameters)."""
    streams = container.streams.video if kind == "video" else container.streams.audio
    if not streams:
        if required:
            raise MediaError(f"{prefix}no {kind} stream")
        return None
    if streams[0].codec_context is None:
        raise MediaError(f"{prefix}the {kind} stream has no decodable codec parameters (truncated or damaged header)")
    return streams[0]


def probe(path: str | Path, decode: bool = True) -> MediaInfo:
    """Open a media file and count what decodes. Raises MediaError with a readable reason."""
    path = Path(path)
    with _open(path) as container:
        vs = _stream(container, "video", "")  # probe's reasons go into skip reports, which name the file
        fps = float(vs.average_rate or vs.guessed_rate or 0)
        aus = _stream(container, "audio", "", required=False)
        n_frames, n_samples = 0, 0
        streams = [vs] + ([aus] if aus is not None else [])
        error = None
        if decode:
            try:
                for packet in container.demux(*streams):
                    for frame in packet.decode():
                        if isinstance(frame, av.VideoFrame):
                            n_frames += 1
                        else:
                            n_samples += frame.samples
            except av.error.FFmpegError as e:
                error = e
            if error is not None and n_frames == 0:
                raise MediaError(f"no decodable frames ({error})") from error
            if error is not None and vs.frames and n_frames < vs.frames:
                raise MediaError(f"truncated: decoded {n_frames} of {vs.frames} frames ({error})") from error
        else:
            n_frames = vs.frames
        width, height = vs.codec_context.width, vs.codec_context.height
        info = MediaInfo(
            path=str(path), width=width, height=height, fps=fps, n_frames=n_frames, declared_frames=vs.frames or 0,
            video_duration=n_frames / fps if fps else 0.0, video_codec=vs.codec_context.name,
            has_audio=aus is not None,
            audio_codec=aus.codec_context.name if aus is not None else None,
            sample_rate=aus.codec_context.sample_rate if aus is not None else None,
            channels=aus.codec_context.channels if aus is not None else None,
            audio_duration=(n_samples / aus.codec_context.sample_rate) if aus is not None and decode else None,
        )
    return info


def audio_duration(path: str | Path) -> float:
    """Seconds of decodable audio in a file (audio-only files included)."""
    with _open(Path(path), f"{path}: ") as container:
        aus = _stream(container, "audio", f"{path}: ")
        try:
            n = sum(f.samples for f in container.decode(aus))
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: audio does not decode to the end: truncated? ({e})") from e
        return n / aus.codec_context.sample_rate


def read_frames(path: str | Path) -> tuple[np.ndarray, float]:
    """All video frames as (T, H, W, 3) uint8 RGB, and the frame rate. A truncated file raises MediaError
    (see `iter_frames`): a video is used whole or not at all."""
    frames = [img for _, img in iter_frames(path)]
    with _open(Path(path), f"{path}: ") as container:
        vs = container.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate or 25)
    return np.stack(frames), fps


def iter_frames(path: str | Path):
    """Yield (seconds from the first frame, (H, W, 3) uint8 RGB) for every frame, without holding the video.
    Raises MediaError for a file that does not open, has no video, or ends before its header says it should
    (a truncated download); the error comes when the stream runs out, after the frames that did decode."""
    path = Path(path)
    with _open(path, f"{path}: ") as container:
        vs = _stream(container, "video", f"{path}: ")
        rate = float(vs.average_rate or vs.guessed_rate or 25)
        declared = vs.frames or 0
        n, t0, error = 0, None, None
        try:
            for frame in container.decode(vs):
                t = float(frame.time) if frame.time is not None else n / rate
                t0 = t if t0 is None else t0
                yield t - t0, frame.to_ndarray(format="rgb24")
                n += 1
        except av.error.FFmpegError as e:
            error = e
        if n == 0:
            raise MediaError(f"{path}: no decodable video frames" + (f" ({error})" if error else ""))
        if error is not None or (declared and n < declared):
            raise MediaError(f"{path}: truncated: decoded {n} of {declared or '?'} frames"
                             + (f" ({error})" if error else ""))


def audio_rate(path: str | Path) -> int:
    """The first audio stream's sample rate."""
    with _open(Path(path), f"{path}: ") as container:
        return _stream(container, "audio", f"{path}: ").codec_context.sample_rate


def iter_audio(path: str | Path, sample_rate: int):
    """The first audio stream as mono float32 blocks (n,) at `sample_rate`, decoded and resampled as they are
    read: the samples of read_audio, in order, without holding the clip."""
    with _open(Path(path), f"{path}: ") as container:
        aus = _stream(container, "audio", f"{path}: ")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(aus):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):  # flush
                yield out.to_ndarray().reshape(-1)
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: audio does not decode to the end: truncated? ({e})") from e


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """The first audio stream as mono float32 (S,), resampled to `sample_rate` if given."""
    sr = sample_rate or audio_rate(path)
    chunks = list(iter_audio(path, sr))
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), sr


def take(blocks, n: int):
    """The first n samples of a stream of blocks (the stream is closed after them: its file too)."""
    try:
        for b in blocks:
            if n <= 0:
                return
            yield b[:n]
            n -= len(b)
    finally:
        getattr(blocks, "close", lambda: None)()


class AudioWindow:
    """Samples [a, b) of a stream of blocks (iter_audio) read once, front to back, for requests whose starts
    never move back: what lies before the latest start is dropped, so memory holds one window, not the clip.
    Samples before 0 or after the stream's end read as 0."""

    def __init__(self, blocks):
        self._blocks = iter(blocks)
        self._buf = np.zeros(0, np.float32)  # samples [self._start, self._start + len(self._buf))
        self._start = 0
        self._ended = False

    def get(self, a: int, b: int) -> np.ndarray:
        if max(a, 0) < self._start:
            raise ValueError(f"AudioWindow: sample {a} was already dropped (window starts at {self._start})")
        more = [self._buf]
        end = self._start + len(self._buf)
        while end < b and not self._ended:
            block = next(self._blocks, None)
            if block is None:
                self._ended = True
            else:
                more.append(block)
                end += len(block)
        buf = np.concatenate(more) if len(more) > 1 else self._buf
        keep = max(0, a - self._start)  # drop what no later request reads
        self._buf, self._start = buf[keep:], self._start + keep
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, self._start), min(b, self._start + len(self._buf))
        if hi > lo:
            out[lo - a: hi - a] = self._buf[lo - self._start: hi - self._start]
        return out

    def close(self) -> None:
        """Close the stream (and its file) now rather than when it is garbage-collected."""
        getattr(self._blocks, "close", lambda: None)()


def read_image(path: str | Path) -> np.ndarray:
    """A photo as users have it -> (H, W, 3) uint8 RGB, upright.

    8- or 16-bit, gray or colour, with or without alpha (composited over white), palette, CMYK JPEG; the
    EXIF orientation of phone photos is applied. Raises MediaError for anything that is not a readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise MediaError(f"{path}: not a readable image ({e})") from e
    return image_to_rgb8(im)


def image_to_rgb8(im) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB. High bit depths are scaled, never wrapped."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16/32-bit gray, float gray
        a = np.asarray(im, np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if im.mode == "F":
            top = 1.0 if a.max(initial=0) <= 1.0 else top
        a = np.clip(np.round(a / top * 255), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(a[..., None], 3, -1))
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.array(im.convert("RGB"))  # a writable copy (np.asarray of a PIL image is read-only)


def resample_audio(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality resampling (soxr, through librosa)."""
    if sr_in == sr_out:
        return audio.astype(np.float32)
    import librosa

    return librosa.resample(audio.astype(np.float32), orig_sr=sr_in, target_sr=sr_out, res_type="soxr_hq")


def write_video(
    path: str | Path,
    frames,  # iterable of (H, W, 3) uint8 RGB, or an array (T, H, W, 3)
    fps: float,
    audio=None,  # (S,) float32 mono in [-1, 1], or an iterable of such blocks (e.g. take(iter_audio(...), n))
    sample_rate: int | None = None,
    crf: int = 20,
    audio_bitrate: int = 96_000,
) -> Path:
    """Write an mp4 (H.264 yuv420p + AAC mono) atomically: a temporary name, renamed when complete."""
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        # faststart: the index goes first, so players (and wandb/browsers) can stream the file.
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vs = None
            as_ = None
            if audio is not None:
                if not sample_rate:
                    raise ValueError("sample_rate is required with audio")
            for frame in frames:
                frame = np.ascontiguousarray(frame, dtype=np.uint8)
                if vs is None:
                    h, w = frame.shape[:2]
                    if h % 2 or w % 2:
                        raise ValueError(f"H.264/yuv420p needs even width and height, got {w}x{h}")
                    vs = out.add_stream("libx264", rate=rate)
                    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
                    # threads=1 keeps the bitstream byte-identical across runs (corpus determinism).
                    vs.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
                    vs.codec_context.thread_count = 1
                    if audio is not None:
                        as_ = out.add_stream("aac", rate=sample_rate)
                        as_.layout = "mono"
                        as_.bit_rate = audio_bitrate
                for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            if vs is None:
                raise ValueError("no frames to write")
            for packet in vs.encode():
                out.mux(packet)
            if as_ is not None:
                # One-second slices: the encoder's buffers stay small whatever the clip's length (one frame
                # of a 10-minute track costs ~500 MB in conversions).
                for start, piece in _seconds(audio, sample_rate):
                    samples = np.clip(np.asarray(piece, np.float32), -1, 1)
                    af = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
                    af.sample_rate = sample_rate
                    af.pts = start
                    af.time_base = Fraction(1, sample_rate)
                    for packet in as_.encode(af):
                        out.mux(packet)
                for packet in as_.encode(None):
                    out.mux(packet)
    return path


def _seconds(audio, sample_rate: int):
    """(first sample, one second of samples) from an array or an iterable of blocks of any size: the same slices
    for the same samples, so streamed audio encodes exactly as an array does."""
    blocks = [audio] if isinstance(audio, np.ndarray) else audio
    rest, start = np.zeros(0, np.float32), 0
    for block in blocks:
        joined = np.concatenate([rest, np.asarray(block, np.float32)]) if len(rest) else np.asarray(block)
        n = len(joined) - len(joined) % sample_rate  # whole seconds, sliced without copying
        for i in range(0, n, sample_rate):
            yield start + i, joined[i:i + sample_rate]
        rest, start = joined[n:], start + n
    if len(rest):
        yield start, rest


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    import soundfile as sf

    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio, sample_rate, format="WAV", subtype="PCM_16")
    return path
