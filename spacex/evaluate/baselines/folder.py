"""Score videos that were rendered elsewhere (any method, any machine): a folder and a file-name pattern.

    m = FolderMethod("renders/sadtalker", pattern="{clip_id}.mp4", offset=0)
    m.missing(clip_ids)            # -> the clip ids with no file, to report before scoring
    ev = m.load("test_id01_000", protocol, box, gt_size)   # EvalVideo, as for any adapter's output

`offset` is the frame offset of these files against ground truth (generated frame j matches GT frame
j + offset): 0 for outputs of the adapters here (they apply it), 2 for raw PC-AVS frames made into videos,
None to estimate it per clip with protocol.estimate_offset. `audio` names a pattern for the speech when the
videos have none (PC-AVS frames): e.g. "{clip_id}.wav" relative to root, or an absolute pattern.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from spacex.evaluate.protocol import Box, EvalVideo, Protocol, load_for_eval


@dataclass
class FolderConfig:
    root: str  # folder of rendered videos
    pattern: str = "{clip_id}.mp4"  # file of one clip, relative to root; may contain sub-folders
    offset: int | None = 0  # generated frame j matches GT frame j + offset; None: estimate per clip
    audio: str | None = None  # pattern of the speech file when the videos have no sound


class FolderMethod:
    def __init__(self, root: str | Path, pattern: str = "{clip_id}.mp4", offset: int | None = 0,
                 audio: str | None = None, name: str | None = None):
        if "{clip_id}" not in pattern:
            raise ValueError(f"pattern {pattern!r} must contain {{clip_id}}")
        self.root, self.pattern, self.offset, self.audio = Path(root), pattern, offset, audio
        self.name = name or self.root.name

    @classmethod
    def from_config(cls, cfg: FolderConfig, name: str | None = None) -> "FolderMethod":
        return cls(cfg.root, cfg.pattern, cfg.offset, cfg.audio, name)

    def path(self, clip_id: str) -> Path:
        return self.root / self.pattern.format(clip_id=clip_id)

    def audio_path(self, clip_id: str) -> Path | None:
        return self.root / self.audio.format(clip_id=clip_id) if self.audio else None  # absolute stays absolute

    def check(self) -> list[str]:
        return [] if self.root.is_dir() else [f"{self.name}: folder {self.root} does not exist"]

    def files(self, clip_ids: Iterable[str]) -> dict[str, Path]:
        """clip id -> its file, for the clips that have one."""
        return {c: self.path(c) for c in clip_ids if self.path(c).is_file()}

    def missing(self, clip_ids: Iterable[str]) -> list[str]:
        """The clip ids without a file (or, with an audio pattern, without their speech file)."""
        out = []
        for c in clip_ids:
            a = self.audio_path(c)
            if not self.path(c).is_file() or (a is not None and not a.is_file()):
                out.append(c)
        return out

    def load(self, clip_id: str, protocol: Protocol, box: Box | None,
             gt_size: tuple[int, int] | None = None) -> EvalVideo:
        return load_for_eval(self.path(clip_id), protocol, box, gt_size, audio_path=self.audio_path(clip_id))
