"""Stage `pack`: the store's training view. Every clip's arrays concatenated into memory-mapped .npy shards,
with the frames decoded and cropped once, at the renderer's resolution (and `--sizes`). Layout and reader:
spacex.preprocess.packed.

    spacex pack [--profile smoke] [--sizes 256 ...]     the missing or stale shards, then the index
    spacex pack --shard 3/16 ...                        only shards 3, 19, 35, ... (any scheduler), then `spacex pack`

Why numpy memory maps (and not WebDataset tar shards or zarr): training draws random windows of random clips,
which a tar stream cannot seek to, and zarr would add chunked compression that every read pays for. A .npy is
read in place (`np.load(mmap_mode="r")`): DataLoader workers and the ranks of one node share the page cache,
a process holds only the pages it touches, and nothing but the index is loaded at start-up. Shards bound the
file sizes (`pack.shard_frames`) and are written independently, so any scheduler can write them in
parallel (`spacex pack --shard i/n`, then `spacex pack`).

The pack is derived from the per-clip store (clips/*.npz) and the corpus videos, in its own folder and DVC stage
(so a change of the renderer's resolution re-packs frames, not the whole preprocessing); a shard whose
shard.json matches its clips, sizes and the store's config hash is kept, any other is rewritten (to a temporary
folder, renamed when complete); the index is removed while shards are rewritten.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from spacex import files
from spacex.preprocess import store
from spacex.preprocess.packed import META, PER_CLIP, PER_FRAME, frames_key

CHUNK = 64  # frames decoded and cropped at a time


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

    store_dir, default_root, out, name, clips, sizes, chash = args
    final = Path(out) / name
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
        if sizes:  # decoded and cropped CHUNK frames at a time: a long 1080p clip is never held whole
            t, chunk = 0, []
            meta = store.read_meta(store_dir, c["clip_id"])
            root = meta.get("corpus", default_root)  # the clip's own corpus
            frames = (img for _, img in media.iter_frames(clipfmt.clip_paths(root, c["clip_id"])["video"]))
            if meta.get("source_fps", meta["fps"]) != meta["fps"]:  # the frame nearest each model-rate instant
                frames = _at_model_rate(frames, meta["source_fps"], meta["fps"], T, meta["source_frames"])
            for img in itertools.chain(frames, [None]):
                if img is not None:
                    chunk.append(img)
                if chunk and (img is None or len(chunk) == CHUNK):
                    n = min(len(chunk), T - t)  # the store counted T frames
                    for s in sizes:
                        maps[frames_key(s)][f + t:f + t + n] = crop_frames(np.stack(chunk[:n]), arr["crop_box"], s).numpy()
                    t, chunk = t + n, []
            if t != T:
                raise ValueError(f"{c['clip_id']}: the video has {t} frames, the store {T}")
        f, a = f + T, a + S
    for m in maps.values():
        m.flush()
    del maps
    files.write_json(tmp / "shard.json", _shard_info(clips, sizes, chash), sort_keys=True)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return name


def _at_model_rate(frames, src_fps: float, fps: float, n: int, n_src: int):
    """Video frames at src_fps -> the n frames nearest the instants k / fps (a frame repeats or drops where the
    rates differ: face-vid2vid learns from single frames, so only the sequence tracks need true resampling)."""
    want = np.minimum(np.round(np.arange(n) * (src_fps / fps)).astype(int), n_src - 1)
    k = 0
    for j, img in enumerate(frames):
        while k < n and want[k] == j:
            yield img
            k += 1


def write(store_dir: str | Path, corpora: dict[str, float], out: str | Path, sizes: list[int],
          shard_frames: int = 20_000, workers: int = 1, shard: tuple[int, int] = (0, 1),
          index: bool = True) -> dict | None:
    """Write this (scheduler) shard's missing or stale pack shards into `out`, then (index=True) its index.json.
    `corpora`: {corpus folder: sampling weight} (CorpusConfig.roots()); the index keeps the weights for training."""
    out = Path(out)
    manifest = store.read_manifest(store_dir)
    chash, sizes = manifest["config_hash"], sorted({int(s) for s in sizes})
    shards = plan_shards(manifest["clips"], shard_frames)
    names = [f"shard-{k:05d}" for k in range(len(shards))]
    i, n = shard
    jobs = []
    for k in range(i, len(shards), n):
        done = out / names[k] / "shard.json"
        if not (done.exists() and json.loads(done.read_text()) == _shard_info(shards[k], sizes, chash)):
            jobs.append((str(store_dir), next(iter(corpora)), str(out), names[k], shards[k], sizes, chash))
    if jobs:  # an index over shards being rewritten would point into the wrong rows: gone until rewritten
        (out / "index.json").unlink(missing_ok=True)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_one_thread) as pool:
            list(pool.map(_write_shard, jobs))
    else:
        for j in jobs:
            _write_shard(j)
    if not index:
        return None
    for stale in out.glob("shard-*"):  # shards of an earlier, longer plan
        if stale.is_dir() and stale.name not in names:
            shutil.rmtree(stale, ignore_errors=True)
    return write_index(store_dir, out, shards, names, sizes, chash, corpora)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core: the pool's processes share the machine


def add_mfcc(sums: dict[str, dict], split: str, mfcc: np.ndarray) -> None:
    """Add one clip's MFCCs (T, n_mfcc) to its split's running count, sum and sum of squares (the index's
    `mfcc_sums`, from which the networks' input normalization is computed)."""
    x = np.asarray(mfcc, np.float64)
    s = sums.setdefault(split, {"count": 0, "sum": 0.0, "sum_squares": 0.0})
    s["count"] += len(x)
    s["sum"] = (s["sum"] + x.sum(0)).tolist()
    s["sum_squares"] = (s["sum_squares"] + (x * x).sum(0)).tolist()


def write_index(store_dir: str | Path, out: Path, shards: list[list[dict]], names: list[str], sizes: list[int],
                chash: str, corpora: dict[str, float]) -> dict:
    """index.json from the shards on disk (all must be complete): clip locations, metadata, MFCC sums per split."""
    clips, mfcc = [], {}
    for name, members in zip(names, shards):
        info = json.loads((out / name / "shard.json").read_text())
        if info != _shard_info(members, sizes, chash):
            raise FileNotFoundError(f"pack shard {name} is missing or stale: write it first (spacex pack)")
        m = np.load(out / name / "mfcc.npy", mmap_mode="r")
        f = a = 0
        for k, c in enumerate(members):
            meta = store.read_meta(store_dir, c["clip_id"])
            T, S = c["n_frames"], c["shapes"]["audio"][0]
            clips.append({"clip_id": c["clip_id"], "split": c["split"], "shard": name, "row": k, "start": f,
                          "n_frames": T, "audio_start": a, "n_audio": S, **{key: meta.get(key) for key in META}})
            add_mfcc(mfcc, c["split"], m[f:f + T])
            f, a = f + T, a + S
    idx = {"store": str(store_dir), "config_hash": chash, "settings": store.read_manifest(store_dir)["settings"],
           "sizes": sizes, "shards": names, "clips": clips, "mfcc_sums": mfcc, "corpus_weights": corpora}
    files.write_json(out / "index.json", idx, sort_keys=True)
    return idx


def sizes(cfg, extra: list[int] = ()) -> list[int]:
    """The frame sizes to pack: the renderer's resolution (fv2v.model.resolution) and any `extra`."""
    return sorted({cfg.fv2v.model.resolution, *extra})


def main(cfg, shard: tuple[int, int] = (0, 1), extra_sizes: list[int] = (), report_dir: str | Path | None = None,
         workers: int | None = None) -> dict | None:
    """The stage: pack cfg.preprocess.out into cfg.pack.out (a --shard writes its shards only, no index)."""
    import time

    t0 = time.perf_counter()
    idx = write(cfg.preprocess.out, cfg.corpus.roots(), cfg.pack.out, sizes(cfg, extra_sizes), cfg.pack.shard_frames,
                workers or cfg.preprocess.workers, shard, index=shard[1] == 1)
    if idx is None:
        return None
    summary = {"clips": len(idx["clips"]), "frames": sum(c["n_frames"] for c in idx["clips"]),
               "shards": len(idx["shards"]), "sizes": idx["sizes"],
               "megabytes": round(sum(p.stat().st_size for p in Path(cfg.pack.out).rglob("*.npy")) / 2**20, 1)}
    seconds = round(time.perf_counter() - t0, 1)
    if report_dir:  # the wall time apart: the metrics file repeats byte for byte, run after run
        files.write_json(Path(report_dir) / "summary.json", summary)
        files.write_json(Path(report_dir) / "timing.json", {"seconds": seconds})
    return summary | {"seconds": seconds}
