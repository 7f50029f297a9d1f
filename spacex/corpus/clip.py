"""The clip format every corpus in the kit uses (SynthTalk, ingested VoxCeleb2 / MEAD / RAVDESS / folders).

    <root>/
      corpus.json              who made it, with which settings, and its summary figures
      manifest.csv             one row per clip (columns: MANIFEST_COLUMNS)
      skipped.csv              inputs that were not turned into clips, with the reason (ingest)
      clips/<clip_id>.mp4      H.264 video + AAC mono audio
      clips/<clip_id>.json     metadata: dataset, speaker, identity, emotion, intensity, text, timing, ...
      clips/<clip_id>.npz      optional per-frame ground truth (SynthTalk): see GROUND_TRUTH_ARRAYS

Arrays are plain numpy (np.load(..., allow_pickle=False)); metadata is JSON: nothing in a corpus executes
code when read.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

MANIFEST_COLUMNS = [
    "clip_id", "split", "dataset", "speaker", "identity", "emotion", "intensity",
    "n_frames", "fps", "duration", "sample_rate", "width", "height", "has_groundtruth", "text", "source",
]

GROUND_TRUTH_ARRAYS = {
    "landmarks": "(T, 68, 3) float32 posed 3D landmarks in pixels (x right, y down, z away from camera)",
    "landmarks_norm": "(T, 68, 3) float32 normalized landmarks (frontal, ears 1 apart, origin between them)",
    "rotation": "(T, 3) float32 head pose [yaw, pitch, roll] in degrees",
    "translation": "(T, 2) float32 image position of the normalized origin, pixels",
    "scale": "(T,) float32 pixels per normalized unit",
    "eye_closure": "(T,) float32 blink state, 0 open .. 1 closed",
    "visemes": "(T, 5) float32 viseme weights [jaw_open, round, spread, lower_lip_up, closure]",
    "gaze": "(T, 2) float32 gaze in eye widths (spacex.gaze: x to the image right, y down)",
    "iris": "(T, 2, 2) float32 iris centres in pixels [subject's right eye, left eye][x, y]",
}
SPLITS = ("train", "val", "test")


@dataclass
class ClipMeta:
    clip_id: str
    split: str
    dataset: str
    speaker: str
    identity: str
    emotion: str  # label; "" when the dataset has none
    intensity: float | None  # in [0, 1]; None when unlabeled
    n_frames: int
    fps: float
    sample_rate: int
    width: int
    height: int
    text: str = ""
    source: str = ""  # original file, for ingested clips
    has_groundtruth: bool = False
    extra: dict = field(default_factory=dict)  # phonemes, blinks, voice, prosody, ... (dataset specific)

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def row(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        d["duration"] = round(self.duration, 4)
        d["intensity"] = "" if self.intensity is None else self.intensity
        return {k: d[k] for k in MANIFEST_COLUMNS}


def clip_paths(root: str | Path, clip_id: str) -> dict[str, Path]:
    base = Path(root) / "clips" / clip_id
    return {"video": base.with_suffix(".mp4"), "meta": base.with_suffix(".json"), "gt": base.with_suffix(".npz")}


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_meta(root: str | Path, meta: ClipMeta) -> Path:
    p = clip_paths(root, meta.clip_id)["meta"]
    p.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(p, json.dumps(asdict(meta), indent=1, sort_keys=True).encode())
    return p


def read_meta(root: str | Path, clip_id: str) -> ClipMeta:
    d = json.loads(clip_paths(root, clip_id)["meta"].read_text())
    return ClipMeta(**d)


def write_groundtruth(root: str | Path, clip_id: str, arrays: dict[str, np.ndarray]) -> Path:
    unknown = set(arrays) - set(GROUND_TRUTH_ARRAYS)
    if unknown:
        raise KeyError(f"unknown ground-truth arrays {sorted(unknown)}")
    p = clip_paths(root, clip_id)["gt"]
    tmp = p.with_name(f".{p.stem}.partial.npz")
    np.savez_compressed(tmp, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    os.replace(tmp, p)
    return p


def read_groundtruth(root: str | Path, clip_id: str) -> dict[str, np.ndarray]:
    with np.load(clip_paths(root, clip_id)["gt"], allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_manifest(root: str | Path, metas: list[ClipMeta]) -> Path:
    p = Path(root) / "manifest.csv"
    tmp = p.with_name(".manifest.csv.partial")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, MANIFEST_COLUMNS)
        w.writeheader()
        for m in sorted(metas, key=lambda m: m.clip_id):
            w.writerow(m.row())
    os.replace(tmp, p)
    return p


def read_manifest(root: str | Path) -> list[dict]:
    p = Path(root) / "manifest.csv"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: is {root} a corpus? (make one with `spacex corpus synth` "
                                "or `spacex corpus ingest`, or fetch the default with `dvc pull`)")
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def write_skipped(root: str | Path, skipped: list[tuple[str, str]]) -> Path:
    p = Path(root) / "skipped.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        w.writerows(sorted(skipped))
    return p


def write_corpus_info(root: str | Path, info: dict) -> Path:
    p = Path(root) / "corpus.json"
    _atomic_write_bytes(p, json.dumps(info, indent=1, sort_keys=True, default=str).encode())
    return p
