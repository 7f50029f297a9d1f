"""The preprocessed store: training-ready arrays per clip, a manifest, a skip report.

    <store>/
      manifest.json                 config, versions, backend, fps, and each finished clip with its shapes
      splits/<split>.json           the manifest of one split's clips, each with the MD5 of the corpus files it was
                                    made from: what a stage that reads only some splits depends on (the renderer:
                                    train and val)
      skipped.csv                   clip_id, reason
      clips/<clip_id>.npz           arrays (STORE_ARRAYS)
      clips/<clip_id>.json          per-clip metadata; written last, so its presence means "finished"
      clips/<clip_id>.skip.json     why the clip was skipped

Every file is written to a temporary name and renamed, so a killed run never leaves a half-written clip
that looks finished. A clip counts as done only when its .json names the same config hash as the run, which
makes re-runs idempotent and lets shards (`--shard i/n`) write into one store without coordination;
`index` rebuilds the manifest, the split indexes and the skip report from what is on disk.
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from spacex import files

STORE_ARRAYS = {
    "landmarks": "(T, 68, 3) float32 image-space 3D landmarks, pixels (x right, y down, z away)",
    "landmarks_norm": "(T, 68, 3) float32 normalized landmarks (frontal, ears 1 apart, origin between them)",
    "rotation": "(T, 3) float32 head pose [yaw, pitch, roll], degrees",
    "translation": "(T, 3) float32 image position of the normalized origin, pixels",
    "scale": "(T,) float32 pixels per normalized unit",
    "crop_box": "(4,) float32 the clip's stable square face crop x0, y0, x1, y1 (may exceed the frame)",
    "eye_openness": "(T, 2) float32 eye aspect ratio [subject's right, left], normalized space",
    "blink": "(T,) uint8 1 on frames inside a detected blink",
    "gaze": "(T, 2) float32 gaze in eye widths (spacex.gaze), interpolated over closed-eye frames",
    "iris": "(T, 2, 2) float32 detected iris centres, pixels [subject's right eye, left eye][x, y]; NaN if unseen",
    "mfcc": "(T, n_mfcc) float32 MFCCs, one row per video frame",
    "audio": "(S,) int16 mono PCM at the store's sample rate, exactly T / fps seconds",
    "emotion": "(E,) float32 emotion intensities over the store's vocabulary",
}


def config_hash(cfg: dict) -> str:
    return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]


def paths(store: Path, clip_id: str) -> dict[str, Path]:
    base = Path(store) / "clips" / clip_id
    return {"npz": base.with_suffix(".npz"), "meta": base.with_suffix(".json"),
            "skip": base.with_name(clip_id + ".skip.json")}


def _atomic_json(path: Path, obj: dict) -> None:
    files.write_json(path, obj, sort_keys=True, default=float)


def status(store: Path, clip_id: str, chash: str) -> str | None:
    """'done', 'skipped' (for this config) or None (to do)."""
    p = paths(store, clip_id)
    for key, state in (("meta", "done"), ("skip", "skipped")):
        if p[key].exists():
            try:
                if _current(json.loads(p[key].read_text()), chash, skip=key == "skip"):
                    return state
            except json.JSONDecodeError:
                pass
    return None


def _current(meta: dict, chash: str, skip: bool) -> bool:
    """Written for this config; a finished clip also names its corpus files' hashes (`sources`: stores written
    before the split indexes existed lack them, and their clips are redone once)."""
    return meta.get("config_hash") == chash and (skip or "sources" in meta)


def write_clip(store: Path, clip_id: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    unknown = set(arrays) - set(STORE_ARRAYS)
    if unknown:
        raise KeyError(f"unknown store arrays {sorted(unknown)}")
    p = paths(store, clip_id)
    p["npz"].parent.mkdir(parents=True, exist_ok=True)
    p["skip"].unlink(missing_ok=True)
    with files.atomic_path(p["npz"]) as tmp:
        np.savez(tmp, **arrays)
    _atomic_json(p["meta"], meta)  # last: marks the clip finished


def write_skip(store: Path, clip_id: str, reason: str, chash: str) -> None:
    p = paths(store, clip_id)
    p["skip"].parent.mkdir(parents=True, exist_ok=True)
    _atomic_json(p["skip"], {"clip_id": clip_id, "reason": reason, "config_hash": chash})


def read_clip(store: Path, clip_id: str) -> dict[str, np.ndarray]:
    with np.load(paths(store, clip_id)["npz"], allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_meta(store: Path, clip_id: str) -> dict:
    return json.loads(paths(store, clip_id)["meta"].read_text())


def index(store: Path, info: dict) -> dict:
    """Rebuild manifest.json, splits/ and skipped.csv from the clips on disk for config hash info['config_hash']."""
    store = Path(store)
    chash = info["config_hash"]
    clips, skipped, sources, fps = [], [], {}, set()
    for p in sorted((store / "clips").glob("*.json")):
        d = json.loads(p.read_text())
        skip = p.name.endswith(".skip.json")
        if not _current(d, chash, skip):
            continue
        if skip:
            skipped.append((d["clip_id"], d["reason"]))
        else:
            clips.append({k: d[k] for k in ("clip_id", "split", "n_frames", "shapes")})
            sources[d["clip_id"]] = d["sources"]
            fps.add(d.get("fps"))
    info = {**info, "fps": fps.pop() if len(fps) == 1 else sorted(fps)}  # one rate, or the rates of a mixed store
    manifest = {**info, "arrays": STORE_ARRAYS, "clips": clips, "skipped": len(skipped)}
    _atomic_json(store / "manifest.json", manifest)
    # One manifest per split, with the corpus files' hashes: a stage that depends on the splits it reads (not on
    # the whole corpus folder and manifest) is not re-run when only another split changes, e.g. new test clips.
    splits = sorted({c["split"] for c in clips})
    (store / "splits").mkdir(exist_ok=True)
    for split in splits:
        _atomic_json(store / "splits" / f"{split}.json",
                     {**info, "arrays": STORE_ARRAYS, "clips": [{**c, "sources": sources[c["clip_id"]]}
                                                                for c in clips if c["split"] == split]})
    for stale in (store / "splits").glob("*.json"):  # a split no clip has any more
        if stale.stem not in splits:
            stale.unlink()
    with files.atomic_path(store / "skipped.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip_id", "reason"])
        w.writerows(skipped)
    return manifest


# What a model trained on this store needs to see the same inputs at inference (saved in every checkpoint).
FEATURE_SETTINGS = ("backend", "sample_rate", "n_mfcc", "n_fft", "n_mels", "emotions")


def features(store: Path) -> dict:
    """The store's feature settings: landmark backend, audio rate, MFCC settings, emotion order, frame rate."""
    m = read_manifest(store)
    return {**{k: m["settings"][k] for k in FEATURE_SETTINGS if k in m.get("settings", {})}, "fps": m.get("fps")}


def read_manifest(store: Path) -> dict:
    p = Path(store) / "manifest.json"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: run `spacex preprocess` (or `dvc repro preprocess`) first")
    return json.loads(p.read_text())
