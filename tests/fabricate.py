"""Fabricated dataset layouts (VoxCeleb2, MEAD, RAVDESS, plain folder) for ingest tests, built from real
SynthTalk clips, with deliberately bad files: a truncated video, a video without audio, a non-video file."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from spacex import media


def _video(path: Path, frames: np.ndarray, fps: float, audio: np.ndarray | None, sr: int | None) -> Path:
    return media.write_video(path, frames, fps, audio, sr)


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_layouts(root: Path, clip_mp4: Path) -> dict[str, Path]:
    """Write four dataset folders under `root` from one real clip; returns {layout: folder}."""
    frames, fps = media.read_frames(clip_mp4)
    audio, sr = media.read_audio(clip_mp4)
    frames25 = frames[:: 6 // 5][: int(len(frames) * 25 / fps)]  # a 25 fps version (VoxCeleb2 rate)
    a25 = audio[: int(len(frames25) / 25 * sr)]
    out = {}

    vox = root / "vox2" / "dev" / "mp4"
    _video(vox / "id00012" / "abcDEF" / "00001.mp4", frames25, 25, a25, sr)
    _video(vox / "id00012" / "abcDEF" / "00002.mp4", frames, fps, audio, sr)  # already conforms: copied
    _video(vox / "id00099" / "xyz" / "00001.mp4", frames, fps, None, None)  # no audio
    _truncate(_video(vox / "id00099" / "xyz" / "00002.mp4", frames, fps, audio, sr))
    (vox / "id00099" / "notes.txt").write_text("not a video")
    out["voxceleb2"] = vox

    mead = root / "MEAD"
    _video(mead / "M003" / "video" / "front" / "happy" / "level_3" / "001.mp4", frames, fps, audio, sr)
    _video(mead / "M003" / "video" / "front" / "sad" / "level_1" / "002.mp4", frames, fps, None, None)
    media.write_wav(mead / "M003" / "audio" / "sad" / "level_1" / "002.wav", audio, sr)  # wrong ext: not used
    _video(mead / "M003" / "video" / "front" / "angry" / "level_2" / "003.mp4", frames, fps, None, None)
    _m4a(mead / "M003" / "audio" / "angry" / "level_2" / "003.m4a", audio, sr)
    _video(mead / "M003" / "video" / "left_30" / "happy" / "level_3" / "001.mp4", frames, fps, audio, sr)
    _truncate(_video(mead / "W009" / "video" / "front" / "fear" / "level_2" / "004.mp4", frames, fps, audio, sr))
    (mead / "W009" / "video" / "front" / "fear" / "level_2" / "readme.pdf").write_bytes(b"%PDF-1.4 junk")
    out["mead"] = mead

    rav = root / "RAVDESS"
    _video(rav / "Actor_01" / "01-01-03-02-01-01-01.mp4", frames, fps, audio, sr)  # happy, strong
    _video(rav / "Actor_01" / "02-01-03-02-01-01-01.mp4", frames, fps, None, None)  # video-only, twin above
    _video(rav / "Actor_02" / "02-01-04-01-02-01-02.mp4", frames, fps, None, None)  # video-only, no twin
    _truncate(_video(rav / "Actor_02" / "01-01-05-01-02-02-02.mp4", frames, fps, audio, sr))
    (rav / "Actor_02" / "01-01-06-01-02-02-02.mp4").write_bytes(b"this is not an mp4 at all")
    out["ravdess"] = rav

    plain = root / "plain"
    _video(plain / "alice" / "talk.mp4", frames, fps, audio, sr)
    shutil.copy(plain / "alice" / "talk.mp4", plain / "alice" / "talk_copy.mov")
    (plain / "bob").mkdir(parents=True)
    (plain / "bob" / "photo.jpg").write_bytes(b"\xff\xd8\xff not really")
    out["folder"] = plain
    return out


def _m4a(path: Path, audio: np.ndarray, sr: int) -> Path:
    import av
    from fractions import Fraction

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=sr)
        s.layout = "mono"
        f = av.AudioFrame.from_ndarray(audio.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        f.sample_rate, f.pts, f.time_base = sr, 0, Fraction(1, sr)
        for p in s.encode(f):
            out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path
