"""Shared by the stand-in CLIs (copied next to them into each fake repository) and by the tests that read
their outputs back: a frame index drawn as bits, and an mp4 writer (PyAV) like the ffmpeg calls they replace."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

BITS = 8  # frame indices 0..255


def block(width: int) -> int:
    return max(4, width // 16)  # side of one bit square: 8 px on a 128 px frame


def encode_index(frame: np.ndarray, k: int) -> np.ndarray:
    """Draw k as BITS black/white squares along the top-left edge (bit 0 first). Returns a copy."""
    out = frame.copy()
    b = block(frame.shape[1])
    for i in range(BITS):
        out[:b, i * b:(i + 1) * b] = 255 if (k >> i) & 1 else 0
    return out


def decode_index(frame: np.ndarray) -> int:
    b = block(frame.shape[1])
    m = 2  # ignore the square's edges (resizing and compression blur them)
    bits = [frame[m:b - m, i * b + m:(i + 1) * b - m].mean() > 128 for i in range(BITS)]
    return sum(1 << i for i, v in enumerate(bits) if v)


def write_mp4(path, frames, fps: float, audio: np.ndarray | None = None, sr: int | None = None) -> None:
    """H.264 + AAC mono, the way the baselines' ffmpeg calls leave their outputs."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "18"}
        if audio is not None:
            aus = out.add_stream("aac", rate=sr)
            aus.layout = "mono"
        for f in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f, np.uint8), format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if audio is not None:
            af = av.AudioFrame.from_ndarray(np.asarray(audio, np.float32).reshape(1, -1), format="flt", layout="mono")
            af.sample_rate, af.pts, af.time_base = sr, 0, Fraction(1, sr)
            for p in aus.encode(af):
                out.mux(p)
            for p in aus.encode(None):
                out.mux(p)


def read_image(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def resize(image: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
