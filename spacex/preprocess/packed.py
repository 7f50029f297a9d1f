"""Reading the pack (the training view of the store, written by spacex.preprocess.pack): its layout and `Packed`,
the lazy reader training uses. Imports nothing that decodes media, so the trainers depend on this file only.

    <pack>/index.json               the store it was made from (path, settings, config hash), frame sizes, shards,
                                    each clip (shard, rows, audio samples, identity, emotion label, fps), MFCC
                                    sums per split (the networks' MFCC normalization, without reading every MFCC)
    <pack>/shard-00000/shard.json   what the shard holds (clip ids, sizes, the store's config hash)
    <pack>/shard-00000/<key>.npy    per-frame arrays, clips one after another along axis 0: the store's arrays
                                    with a time axis, and frames_<S> (N, 3, S, S) uint8 cut with the clip's crop
                                    box (spacex.crop.crop_frames); per-clip arrays (C, ...): crop_box, emotion;
                                    audio (samples,) int16
"""
from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import numpy as np

from spacex.preprocess import store

PER_CLIP = ("crop_box", "emotion")
PER_FRAME = tuple(k for k in store.STORE_ARRAYS if k not in PER_CLIP + ("audio",))
META = ("identity", "emotion_label", "fps", "corpus")  # per-clip metadata training reads (photo pools, samples, mixing)


def frames_key(size: int) -> str:
    return f"frames_{int(size)}"


class Packed:
    """Lazy reader of a pack: clip entries from index.json; arrays as memory-mapped views, opened on first use
    in each process (a DataLoader worker opens its own; the reader pickles as its path and index, no arrays)."""

    def __init__(self, pack_dir: str | Path):
        self.pack_dir = Path(pack_dir)
        p = self.pack_dir / "index.json"
        if not p.exists():
            raise FileNotFoundError(f"{p} not found: run `spacex pack` (or `dvc repro pack`) first")
        self.index = json.loads(p.read_text())
        manifest = store.read_manifest(self.index["store"])
        if self.index["config_hash"] != manifest["config_hash"] or [(c["clip_id"], c["n_frames"]) for c in
                                                                    self.index["clips"]] != [
                (c["clip_id"], c["n_frames"]) for c in manifest["clips"]]:
            raise FileNotFoundError(f"{p} is stale (the store {self.index['store']} changed since it was packed): "
                                    f"run `spacex pack`")
        self.settings = self.index["settings"]  # the store's preprocessing settings (MFCC, rates)
        self.sample_rate = int(self.settings["sample_rate"])
        self._maps: dict = {}
        self._pid = None

    def __getstate__(self):
        return {"pack_dir": self.pack_dir, "index": self.index, "settings": self.settings,
                "sample_rate": self.sample_rate}

    def __setstate__(self, state):
        self.__dict__.update(state, _maps={}, _pid=None)

    def clips(self, split: str) -> list[dict]:
        return [c for c in self.index["clips"] if c["split"] == split]

    def clip_weights(self, clips: list[dict]) -> np.ndarray | None:
        """(len(clips),) probabilities of drawing each clip in training: each corpus's share proportional to its
        weight (index "corpus_weights"), its clips equally likely; None for a single corpus (uniform draws)."""
        corpora = [c.get("corpus") for c in clips]
        if len(set(corpora)) <= 1:
            return None
        weights = self.index.get("corpus_weights") or {}
        count = {k: corpora.count(k) for k in set(corpora)}
        p = np.array([weights.get(k, 1.0) / count[k] for k in corpora], np.float64)
        return p / p.sum()

    def _map(self, shard: str, key: str) -> np.ndarray:
        if self._pid != os.getpid():  # a forked worker opens its own maps
            self._maps, self._pid = {}, os.getpid()
            # one open file per (shard, array): allow as many as the system lets this process have
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if soft != hard:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if (shard, key) not in self._maps:
            path = self.pack_dir / shard / f"{key}.npy"
            if not path.exists() and key.startswith("frames_"):
                have = ", ".join(f"{s} px" for s in self.index["sizes"]) or "none"
                raise FileNotFoundError(f"{path} not found (frames packed at: {have}): run `spacex pack --sizes "
                                        f"{key[7:]}` (fv2v.model.resolution is always packed)")
            if not path.exists():
                raise FileNotFoundError(f"{path} not found: the pack is incomplete; run `spacex pack`")
            self._maps[(shard, key)] = np.load(path, mmap_mode="r")
        return self._maps[(shard, key)]

    def frames(self, clip: dict, size: int, rows=None) -> np.ndarray:
        """(T, 3, S, S) uint8 cropped frames of a clip (rows: indices into the clip, default all), a copy."""
        return self.get(clip, frames_key(size), rows)

    def audio(self, clip: dict, a: int, b: int) -> np.ndarray:
        """Samples a .. b - 1 of a clip's int16 audio (0 <= a <= b <= n_audio), read from the map."""
        return np.array(self._map(clip["shard"], "audio")[clip["audio_start"] + a:clip["audio_start"] + b])

    def get(self, clip: dict, key: str, rows=None) -> np.ndarray:
        """A clip's array `key` (rows of a per-frame array, default all), read into memory."""
        m = self._map(clip["shard"], key)
        if key in PER_CLIP:
            return np.array(m[clip["row"]])
        if key == "audio":
            return np.array(m[clip["audio_start"]:clip["audio_start"] + clip["n_audio"]])
        if rows is None:
            return np.array(m[clip["start"]:clip["start"] + clip["n_frames"]])
        rows = np.asarray(rows)
        if rows.size and (rows.min() < 0 or rows.max() >= clip["n_frames"]):  # would read a neighbouring clip
            raise IndexError(f"{clip['clip_id']}: rows {rows.min()}..{rows.max()} outside its {clip['n_frames']} frames")
        return m[clip["start"] + rows]

    def mfcc_stats(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Per-coefficient mean and std (n_mfcc,) float32 over a split's MFCC rows, from the index's sums."""
        s = self.index["mfcc_sums"][split]
        mean = np.asarray(s["sum"]) / s["count"]
        var = np.maximum(np.asarray(s["sum_squares"]) / s["count"] - mean ** 2, 0)
        return mean.astype(np.float32), (np.sqrt(var) + 1e-5).astype(np.float32)
