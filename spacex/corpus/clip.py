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
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from spacex import files
from spacex.errors import CorpusError

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


def write_meta(root: str | Path, meta: ClipMeta) -> Path:
    p = clip_paths(root, meta.clip_id)["meta"]
    return files.write_json(p, asdict(meta), sort_keys=True)


def read_meta(root: str | Path, clip_id: str) -> ClipMeta:
    p = clip_paths(root, clip_id)["meta"]
    try:
        return ClipMeta(**json.loads(p.read_text()))
    except FileNotFoundError:
        raise CorpusError(f"clip {clip_id}: metadata sidecar {p} is missing") from None
    except (OSError, ValueError, TypeError) as e:  # unreadable, not JSON, or not the ClipMeta fields
        raise CorpusError(f"clip {clip_id}: metadata sidecar {p} is unreadable ({e})") from e


def write_groundtruth(root: str | Path, clip_id: str, arrays: dict[str, np.ndarray]) -> Path:
    unknown = set(arrays) - set(GROUND_TRUTH_ARRAYS)
    if unknown:
        raise KeyError(f"unknown ground-truth arrays {sorted(unknown)}")
    p = clip_paths(root, clip_id)["gt"]
    with files.atomic_path(p) as tmp:
        np.savez_compressed(tmp, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    return p


def read_groundtruth(root: str | Path, clip_id: str) -> dict[str, np.ndarray]:
    with np.load(clip_paths(root, clip_id)["gt"], allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def duplicate_ids(rows: list[dict]) -> dict[str, int]:
    """{clip_id: number of rows} for ids that appear more than once."""
    return {cid: n for cid, n in Counter(r["clip_id"] for r in rows).items() if n > 1}


def _no_duplicates(rows: list[dict], where: str) -> None:
    dups = duplicate_ids(rows)
    if dups:
        shown = ", ".join(f"{cid} ({n} rows)" for cid, n in sorted(dups.items())[:5])
        raise CorpusError(f"{where}: duplicate clip ids {shown}{' ...' if len(dups) > 5 else ''}: each clip id "
                          "must name one clip (re-ingest, or remove the extra rows)")


def write_manifest(root: str | Path, metas: list[ClipMeta | dict]) -> Path:
    """manifest.csv from clip metadata (or manifest rows), sorted by id; duplicate ids are refused."""
    rows = [m.row() if isinstance(m, ClipMeta) else {k: m.get(k, "") for k in MANIFEST_COLUMNS} for m in metas]
    p = Path(root) / "manifest.csv"
    _no_duplicates(rows, str(p))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, MANIFEST_COLUMNS)
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: r["clip_id"]))
    return files.write_text(p, buf.getvalue())


def read_manifest(root: str | Path, unique: bool = True) -> list[dict]:
    """The manifest's rows; with `unique` (every stage but `corpus check`), duplicate ids raise CorpusError."""
    p = Path(root) / "manifest.csv"
    if not p.exists():
        raise CorpusError(f"{p} not found: is {root} a corpus? (make one with `spacex corpus synth` "
                          "or `spacex corpus ingest`, or fetch the default with `dvc pull`)")
    with open(p, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "clip_id" not in rows[0]:
        raise CorpusError(f"{p} has no clip_id column")
    if unique:
        _no_duplicates(rows, str(p))
    return rows


def read_corpora(roots) -> list[dict]:
    """The rows of several corpora's manifests (`roots`: folders, e.g. CorpusConfig.roots()), each with its folder
    as row["corpus"]. A clip id in two corpora is refused with both folders named: ids never collide."""
    rows, owner = [], {}
    for root in roots:
        for r in read_manifest(root):
            if r["clip_id"] in owner:
                raise CorpusError(f"clip id {r['clip_id']} is in two corpora, {owner[r['clip_id']]} and {root}: "
                                  "a mixed corpus needs distinct ids (ingest ids carry the dataset's path hash)")
            owner[r["clip_id"]] = root
            rows.append({**r, "corpus": str(root)})
    return rows


def read_skipped(root: str | Path) -> list[tuple[str, str]]:
    p = Path(root) / "skipped.csv"
    if not p.exists():
        return []
    with open(p, newline="") as f:
        return [(r["path"], r["reason"]) for r in csv.DictReader(f)]


def write_skipped(root: str | Path, skipped: list[tuple[str, str]]) -> Path:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["path", "reason"])
    w.writerows(sorted(skipped))
    return files.write_text(Path(root) / "skipped.csv", buf.getvalue())


def write_corpus_info(root: str | Path, info: dict) -> Path:
    return files.write_json(Path(root) / "corpus.json", info, sort_keys=True)
