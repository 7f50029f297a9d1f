"""The store's training view: every clip's arrays concatenated into memory-mapped .npy shards, with the frames
decoded and cropped once, at the training resolutions.

    <store>/packed/index.json               frame sizes, shards, each clip (shard, rows, audio samples, identity,
                                            emotion label, fps), MFCC sums per split (for the networks' MFCC
                                            normalization, without reading every MFCC at start-up)
    <store>/packed/shard-00000/shard.json   what the shard holds (clip ids, sizes, the store's config hash)
    <store>/packed/shard-00000/<key>.npy    per-frame arrays, clips one after another along axis 0:
                                            STORE_ARRAYS with a time axis, and frames_<S> (N, 3, S, S) uint8 cut
                                            with the clip's crop box (spacex.crop.crop_frames)
                                            per-clip arrays (C, ...): crop_box, emotion; audio (samples,) int16

Why numpy memory maps (and not WebDataset tar shards or zarr): training draws random windows of random clips,
which a tar stream cannot seek to, and zarr would add chunked compression that every read pays for. A .npy is
read in place (`np.load(mmap_mode="r")`): DataLoader workers and the ranks of one node share the page cache,
a process holds only the pages it touches, and nothing but the index is loaded at start-up. Shards bound the
file sizes (`preprocess.pack_shard_frames`) and are written independently, so any scheduler can write them in
parallel (`spacex preprocess --pack --shard i/n`, then `spacex preprocess --index`).

The pack is derived from the per-clip store (clips/*.npz) and the corpus videos; a shard whose shard.json
matches its clips, sizes and the store's config hash is kept, any other is rewritten (to a temporary folder,
renamed when complete).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from spacex import files
from spacex.preprocess import store

PER_CLIP = ("crop_box", "emotion")
PER_FRAME = tuple(k for k in store.STORE_ARRAYS if k not in PER_CLIP + ("audio",))
META = ("identity", "emotion_label", "fps")  # per-clip metadata training reads (S2L's photo pools, samples)


def pack_dir(store_dir: str | Path) -> Path:
    return Path(store_dir) / "packed"


def frames_key(size: int) -> str:
    return f"frames_{int(size)}"


def plan_shards(clips: list[dict], shard_frames: int) -> list[list[dict]]:
    """Manifest clips in order, grouped into shards of at most `shard_frames` frames (a longer clip alone)."""
    shards, cur, n = [], [], 0
    for c in clips:
        if cur and n + c["n_frames"] > shard_frames:
            shards.append(cur)
            cur, n = [], 0
        cur.append(c)
        n += c["n_frames"]
    return shards + ([cur] if cur else [])


def _shard_info(clips: list[dict], sizes: list[int], chash: str) -> dict:
    return {"config_hash": chash, "sizes": sorted(sizes), "clips": [c["clip_id"] for c in clips]}


def _write_shard(args) -> str:
    """Write one shard to a temporary folder, then rename it; returns the shard's name."""
    from spacex import media
    from spacex.corpus import clip as clipfmt
    from spacex.crop import crop_frames

    store_dir, corpus_root, name, clips, sizes, chash = args
    final = pack_dir(store_dir) / name
    tmp = files.partial_path(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n_frames = sum(c["n_frames"] for c in clips)
    n_audio = sum(c["shapes"]["audio"][0] for c in clips)

    def alloc(key, shape, dtype):
        return np.lib.format.open_memmap(tmp / f"{key}.npy", mode="w+", dtype=dtype, shape=shape)

    maps = {}
    f = a = 0
    for k, c in enumerate(clips):
        arr = store.read_clip(store_dir, c["clip_id"])
        if not maps:  # shapes and dtypes from the first clip's arrays
            maps = {key: alloc(key, (n_frames, *arr[key].shape[1:]), arr[key].dtype) for key in PER_FRAME}
            maps |= {key: alloc(key, (len(clips), *arr[key].shape), arr[key].dtype) for key in PER_CLIP}
            maps["audio"] = alloc("audio", (n_audio,), arr["audio"].dtype)
            maps |= {frames_key(s): alloc(frames_key(s), (n_frames, 3, s, s), np.uint8) for s in sizes}
        T, S = c["n_frames"], len(arr["audio"])
        for key in PER_FRAME:
            maps[key][f:f + T] = arr[key]
        for key in PER_CLIP:
            maps[key][k] = arr[key]
        maps["audio"][a:a + S] = arr["audio"]
        if sizes:
            video, _ = media.read_frames(clipfmt.clip_paths(corpus_root, c["clip_id"])["video"])
            for s in sizes:
                maps[frames_key(s)][f:f + T] = crop_frames(video, arr["crop_box"], s).numpy()
        f, a = f + T, a + S
    for m in maps.values():
        m.flush()
    del maps
    files.write_json(tmp / "shard.json", _shard_info(clips, sizes, chash), sort_keys=True)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return name


def write(store_dir: str | Path, corpus_root: str | Path, sizes: list[int], shard_frames: int = 20_000,
          workers: int = 1, shard: tuple[int, int] = (0, 1), index: bool = True) -> dict | None:
    """Write this (scheduler) shard's missing or stale pack shards, then (index=True) the pack's index.json."""
    manifest = store.read_manifest(store_dir)
    chash, sizes = manifest["config_hash"], sorted({int(s) for s in sizes})
    shards = plan_shards(manifest["clips"], shard_frames)
    names = [f"shard-{k:05d}" for k in range(len(shards))]
    i, n = shard
    jobs = []
    for k in range(i, len(shards), n):
        done = pack_dir(store_dir) / names[k] / "shard.json"
        if not (done.exists() and json.loads(done.read_text()) == _shard_info(shards[k], sizes, chash)):
            jobs.append((str(store_dir), str(corpus_root), names[k], shards[k], sizes, chash))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_write_shard, jobs))
    else:
        for j in jobs:
            _write_shard(j)
    for stale in pack_dir(store_dir).glob("shard-*"):  # shards of an earlier, longer plan
        if stale.is_dir() and stale.name not in names and not stale.name.startswith("."):
            shutil.rmtree(stale)
    return write_index(store_dir, shards, names, sizes, chash) if index else None


def write_index(store_dir: str | Path, shards: list[list[dict]], names: list[str], sizes: list[int],
                chash: str) -> dict:
    """index.json from the shards on disk (all must be complete): clip locations, metadata, MFCC sums per split."""
    clips, mfcc = [], {}
    for name, members in zip(names, shards):
        info = json.loads((pack_dir(store_dir) / name / "shard.json").read_text())
        if info != _shard_info(members, sizes, chash):
            raise FileNotFoundError(f"pack shard {name} is missing or stale: write it first (spacex preprocess --pack)")
        m = np.load(pack_dir(store_dir) / name / "mfcc.npy", mmap_mode="r")
        f = a = 0
        for k, c in enumerate(members):
            meta = store.read_meta(store_dir, c["clip_id"])
            T, S = c["n_frames"], c["shapes"]["audio"][0]
            clips.append({"clip_id": c["clip_id"], "split": c["split"], "shard": name, "row": k, "start": f,
                          "n_frames": T, "audio_start": a, "n_audio": S, **{key: meta.get(key) for key in META}})
            x = np.asarray(m[f:f + T], np.float64)
            s = mfcc.setdefault(c["split"], {"count": 0, "sum": 0.0, "sum_squares": 0.0})
            s["count"] += T
            s["sum"] = (s["sum"] + x.sum(0)).tolist()
            s["sum_squares"] = (s["sum_squares"] + (x * x).sum(0)).tolist()
            f, a = f + T, a + S
    idx = {"config_hash": chash, "sizes": sizes, "shards": names, "clips": clips, "mfcc_sums": mfcc,
           "sample_rate": manifest_sample_rate(store_dir)}
    files.write_json(pack_dir(store_dir) / "index.json", idx, sort_keys=True)
    return idx


def manifest_sample_rate(store_dir: str | Path) -> int:
    return int(store.read_manifest(store_dir)["settings"]["sample_rate"])


class Packed:
    """Lazy reader of a pack: clip entries from index.json; arrays as memory-mapped views, opened on first use
    in each process (so a DataLoader worker opens its own, and the reader pickles as just its path)."""

    def __init__(self, store_dir: str | Path):
        self.store_dir = Path(store_dir)
        p = pack_dir(store_dir) / "index.json"
        if not p.exists():
            raise FileNotFoundError(f"{p} not found: run `spacex preprocess` (or `dvc repro preprocess`) first")
        self.index = json.loads(p.read_text())
        self.sample_rate = int(self.index["sample_rate"])
        self._maps: dict = {}
        self._pid = None

    def __getstate__(self):
        return {"store_dir": self.store_dir, "index": self.index, "sample_rate": self.sample_rate}

    def __setstate__(self, state):
        self.__dict__.update(state, _maps={}, _pid=None)

    def clips(self, split: str) -> list[dict]:
        return [c for c in self.index["clips"] if c["split"] == split]

    def _map(self, shard: str, key: str) -> np.ndarray:
        if self._pid != os.getpid():  # a forked worker opens its own maps
            self._maps, self._pid = {}, os.getpid()
        if (shard, key) not in self._maps:
            path = pack_dir(self.store_dir) / shard / f"{key}.npy"
            if not path.exists():
                have = ", ".join(f"{s} px" for s in self.index["sizes"]) or "none"
                raise FileNotFoundError(f"{path} not found (frames packed at: {have}): re-run `spacex preprocess` "
                                        f"with that fv2v.model.resolution, or add it to preprocess.frame_sizes")
            self._maps[(shard, key)] = np.load(path, mmap_mode="r")
        return self._maps[(shard, key)]

    def frames(self, clip: dict, size: int, rows=None) -> np.ndarray:
        """(T, 3, S, S) uint8 cropped frames of a clip (rows: indices into the clip, default all), a copy."""
        return self.get(clip, frames_key(size), rows)

    def get(self, clip: dict, key: str, rows=None) -> np.ndarray:
        """A clip's array `key` (rows of a per-frame array, default all), read into memory."""
        m = self._map(clip["shard"], key)
        if key in PER_CLIP:
            return np.array(m[clip["row"]])
        if key == "audio":
            return np.array(m[clip["audio_start"]:clip["audio_start"] + clip["n_audio"]])
        if rows is None:
            return np.array(m[clip["start"]:clip["start"] + clip["n_frames"]])
        return m[clip["start"] + np.asarray(rows)]

    def mfcc_stats(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Per-coefficient mean and std (n_mfcc,) float32 over a split's MFCC rows, from the index's sums."""
        s = self.index["mfcc_sums"][split]
        mean = np.asarray(s["sum"]) / s["count"]
        var = np.maximum(np.asarray(s["sum_squares"]) / s["count"] - mean ** 2, 0)
        return mean.astype(np.float32), (np.sqrt(var) + 1e-5).astype(np.float32)
