"""Side-by-side videos of every method's scored crops, labelled, with the ground-truth audio."""
from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np

from spacex import media

SIDE_BY_SIDE = "side_by_side"


def label_strip(text: str, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: the text in white on dark grey, centred, shrunk or cut to fit."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), (40, 40, 40))
    d = ImageDraw.Draw(img)
    size = max(6, int(height * 0.75))
    while True:
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # older Pillow: the fixed bitmap font
            font = ImageFont.load_default()
        if d.textlength(text, font=font) <= width - 2 or size <= 6:
            break
        size -= 1
    while len(text) > 1 and d.textlength(text, font=font) > width - 2:
        text = text[:-2] + "…"
    d.text((width / 2, height / 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    return np.asarray(img, np.uint8)


def _frame_count(path: Path) -> int:
    info = media.probe(path, decode=False)
    return info.declared_frames or media.probe(path).n_frames


def side_by_side(paths: list[Path], labels: list[str], out: Path, fps: float, sample_rate: int,
                 audio_from: Path) -> tuple[Path, int]:
    """Frames of each video concatenated left to right (label strip above each panel), trimmed to the shortest,
    with audio_from's audio; returns the file and its frame count. Panels keep their width; a panel of another
    height is resized to the first panel's height."""
    from spacex.evaluate.protocol import resize

    n = min(_frame_count(p) for p in paths)
    first = media.probe(paths[0], decode=False)
    H = first.height
    strip_h = max(12, int(round(H * 0.14)))
    strip_h += strip_h % 2

    def frames():
        strips = {}
        for group in islice(zip(*(media.iter_frames(p) for p in paths)), n):
            panels = []
            for (_, f), label in zip(group, labels):
                if f.shape[0] != H:
                    f = resize(f, (H, int(round(f.shape[1] * H / f.shape[0]))))
                w = f.shape[1]
                if (label, w) not in strips:
                    strips[label, w] = label_strip(label, w, strip_h)
                panels.append(np.concatenate([strips[label, w], f], 0))
            row = np.concatenate(panels, 1)
            if row.shape[1] % 2:  # H.264 4:2:0 needs an even width
                row = np.concatenate([row, row[:, -1:]], 1)
            yield row

    audio, _ = media.read_audio(audio_from, sample_rate)
    audio = audio[: int(round(n / fps * sample_rate))]
    return media.write_video(out, frames(), fps, audio, sample_rate), n
