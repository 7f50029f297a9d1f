"""Preprocess a corpus into the store (see `store.py`): one clip at a time, in parallel, shardable.

    spacex preprocess                          # the profile's corpus -> build/preprocess
    spacex preprocess --shard 3/64 --workers 8 # one of 64 shards (any scheduler can fan these out)
    spacex preprocess --index                  # rebuild manifest.json, splits/, skipped.csv after the shards

Per clip: decode (truncated or unreadable files are skipped), audio (mono, resampled; silent, too short or
length-mismatched audio is skipped), MTCNN face track and crop box (no face / tiny face / several faces are
skipped), 68 3D landmarks from the configured backend, head pose and the normalized space, eye openness and
blinks, iris centres and gaze, MFCCs per frame, the emotion vector. Clips with SynthTalk ground truth also get the backend's NME.
"""
from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spacex import devices, gaze
from spacex import landmarks as lm
from spacex import media
from spacex.config import Config, PreprocessConfig
from spacex.corpus import clip as clipfmt
from spacex.errors import KitError
from spacex.preprocess import audio as audiofeat
from spacex.preprocess import emotion as emo
from spacex.preprocess import eyes, pose, store
from spacex.preprocess.backends import ClipInput, make_backend
from spacex.preprocess.detect import SkipClip, track_face

_BACKEND = None  # one per process


def _backend(cfg: PreprocessConfig):
    global _BACKEND
    key = (cfg.backend, cfg.device, cfg.batch)
    if _BACKEND is None or _BACKEND[0] != key:
        _BACKEND = key, make_backend(cfg.backend, cfg.device, cfg.batch)
    return _BACKEND[1]


def nme(pred: np.ndarray, ref: np.ndarray, points=slice(None)) -> float:
    """Mean 2D point error over frames, normalized by the reference inter-ocular (outer corners) distance."""
    iod = np.linalg.norm(ref[:, 36, :2] - ref[:, 45, :2], axis=-1)  # (T,)
    err = np.linalg.norm(pred[:, points, :2] - ref[:, points, :2], axis=-1)  # (T, P)
    return float((err / iod[:, None]).mean())


def process_clip(cfg: PreprocessConfig, root: Path, row: dict) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays and metadata for one clip. Raises SkipClip (or MediaError / AudioError) with the reason."""
    cid = row["clip_id"]
    video = clipfmt.clip_paths(root, cid)["video"]
    meta_in = clipfmt.read_meta(root, cid)  # a missing or broken sidecar skips the clip before any decoding
    info = media.probe(video)  # decodes everything: truncated files fail here
    if not info.has_audio:
        raise SkipClip("no audio stream")
    frames, fps = media.read_frames(video)
    T = len(frames)
    audio, sr = media.read_audio(video, cfg.sample_rate)
    audiofeat.check_audio(audio, sr, min_seconds=1.0 / fps)
    gap = len(audio) / sr - T / fps
    if abs(gap) > 2.0 / fps:
        raise SkipClip(f"audio and video lengths differ by {gap:+.3f}s")
    track = track_face(frames, every=cfg.detect_every, min_face=cfg.min_face,
                       second_face_ratio=cfg.second_face_ratio, margin=cfg.crop_margin, device=cfg.device,
                       batch=cfg.detect_batch)
    lms = _backend(cfg)(ClipInput(cid, root, frames, track))  # (T, 68, 3)
    irises = gaze.detect(frames, lms, smoothing=1.0)  # iris centres and gaze in the eyes' own frames
    source = {"source_fps": fps, "source_frames": T}
    gt_path = clipfmt.clip_paths(root, cid)["gt"]
    errors = _groundtruth_errors(root, cid, lms) if gt_path.exists() else {}
    if abs(fps - cfg.fps) > 1e-6:  # another rate: the measured tracks are resampled in time, not frames repeated
        T_model = int(round(T * cfg.fps / fps))
        lms, gz, iris = (resample_track(x, fps, cfg.fps, T_model) for x in (lms, irises.gaze, irises.iris))
        irises = gaze.IrisResult(iris=iris, gaze=gz, valid=np.isfinite(iris).all(-1).any(-1))
        T, fps = T_model, float(cfg.fps)
    n_samples = int(round(T * sr / fps))  # exactly T / fps seconds
    audio = np.pad(audio[:n_samples], (0, max(0, n_samples - len(audio))))

    fit = pose.fit_pose(lms, smoothing=cfg.pose_smoothing)
    norm = pose.normalize(lms, fit)
    ear = eyes.openness(norm)
    blink, blink_events = eyes.detect_blinks(ear, fps, cfg.blink_ratio)
    mfcc = audiofeat.mfcc_per_frame(audio, sr, fps, T, cfg.n_mfcc, cfg.n_fft, cfg.n_mels)
    emotion, labeled = emo.vector(meta_in.emotion, meta_in.intensity, cfg.emotions)

    arrays = {
        "landmarks": lms.astype(np.float32), "landmarks_norm": norm.astype(np.float32),
        "rotation": fit.rotation.astype(np.float32), "translation": fit.translation.astype(np.float32),
        "scale": fit.scale.astype(np.float32), "crop_box": track.box.astype(np.float32),
        "eye_openness": ear.astype(np.float32), "blink": blink.astype(np.uint8),
        "gaze": irises.gaze.astype(np.float32), "iris": irises.iris.astype(np.float32), "mfcc": mfcc,
        "audio": (np.clip(audio, -1, 1) * 32767).astype(np.int16), "emotion": emotion,
    }
    meta = {
        "clip_id": cid, "split": row["split"], "n_frames": T, "fps": fps, "sample_rate": sr,
        "backend": cfg.backend, "emotion_label": meta_in.emotion, "intensity": meta_in.intensity,
        "emotion_labeled": labeled, "speaker": meta_in.speaker, "identity": meta_in.identity,
        "corpus": str(root), "dataset": meta_in.dataset,  # the clip's origin (a mixed store has several)
        "blinks": [[round(a, 3), round(b, 3)] for a, b in blink_events], "face_size": track.face_size,
        "shapes": {k: list(v.shape) for k, v in arrays.items()}, "sources": source_md5(root, cid), **source, **errors,
    }  # no wall-clock timings in the store: it must repeat byte for byte (stage train_fv2v depends on it)
    if errors and T == source["source_frames"]:  # pose and gaze against the ground truth, at its own rate
        gt_all = clipfmt.read_groundtruth(root, cid)
        meta["pose_error_deg"] = np.abs(fit.rotation - gt_all["rotation"]).mean(0).round(3).tolist()  # yaw, pitch, roll
        if "gaze" in gt_all:  # SynthTalk 2+: gaze error (eye widths) on frames where the iris was seen
            seen = irises.valid
            meta["gaze_error"] = np.abs(irises.gaze[seen] - gt_all["gaze"][seen]).mean(0).round(4).tolist() \
                if seen.any() else None
    return arrays, meta


def source_md5(root: Path, cid: str) -> dict[str, str]:
    """{file name: MD5} of the corpus files a clip is made from (video, metadata, ground truth where there is one),
    hashed when the clip is processed; the store's split indexes list them (store.index)."""
    found = [p for key, p in clipfmt.clip_paths(root, cid).items() if key != "gt" or p.is_file()]
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in found}


def _groundtruth_errors(root: Path, cid: str, lms: np.ndarray) -> dict:
    """The backend's NME against a SynthTalk clip's ground truth, on the video's own frames."""
    gt = clipfmt.read_groundtruth(root, cid)["landmarks"].astype(np.float64)
    return {"nme": nme(lms, gt), "nme_mouth": nme(lms, gt, lm.MOUTH)}


def resample_track(x: np.ndarray, src_fps: float, fps: float, n: int) -> np.ndarray:
    """A per-frame track (T, ...) at src_fps -> (n, ...) at fps, linear in time; NaN (e.g. an unseen iris) where
    a frame it draws from is NaN; the last frame holds past the end."""
    pos = np.minimum(np.arange(n) * (src_fps / fps), len(x) - 1)  # source frame position of each output frame
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, len(x) - 1)
    w = (pos - i0).reshape(-1, *[1] * (x.ndim - 1))
    return np.where(w == 0, x[i0], x[i0] * (1 - w) + x[i1] * w)


def _init_worker() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)


def _job(args) -> tuple[str, str | None, dict | None]:
    cfg, out, row, chash = args
    root = Path(row["corpus"])
    try:
        arrays, meta = process_clip(cfg, root, row)
    except (KitError, OSError) as e:  # skip the clip, record why, go on (a bug still stops the run)
        store.write_skip(out, row["clip_id"], str(e), chash)
        return row["clip_id"], str(e), None
    meta["config_hash"] = chash
    store.write_clip(out, row["clip_id"], arrays, meta)
    return row["clip_id"], None, meta


def run_info(cfg: Config) -> dict:
    """What identifies a store: the preprocessing settings and the corpus it reads (workers excluded)."""
    # the device does not name another store (a GPU's floats differ a little: docs/preprocess.md); the batch sizes
    # do, since MTCNN's boxes move a little with them
    settings = {k: v for k, v in asdict(cfg.preprocess).items() if k not in ("workers", "out", "device")}
    settings["corpus_root"] = cfg.corpus.root
    settings["arrays"] = sorted(store.STORE_ARRAYS)  # a store written before an array existed is stale
    return {"config_hash": store.config_hash(settings), "settings": settings, "versions": _versions()}


def run(cfg: Config, shard: tuple[int, int] = (0, 1), workers: int | None = None, progress: bool = True) -> dict:
    """Preprocess this shard's clips that are not done yet; then rebuild the store's index."""
    pcfg = dataclasses.replace(cfg.preprocess, device=str(devices.resolve(cfg.preprocess.device)))
    out = Path(pcfg.out)
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard {i}/{n}: need 0 <= i < n")
    info = run_info(cfg)
    chash = info["config_hash"]
    rows = clipfmt.read_corpora(cfg.corpus.roots())[i::n]
    todo = [r for r in rows if store.status(out, r["clip_id"], chash) is None]
    (out / "clips").mkdir(parents=True, exist_ok=True)
    if todo:
        _backend(pcfg) if (workers or pcfg.workers) <= 1 else make_backend(pcfg.backend, "cpu")  # fail fast
    jobs = [(pcfg, out, r, chash) for r in todo]
    workers = workers or pcfg.workers
    t0 = time.time()
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            results = list(tqdm(pool.map(_job, jobs), total=len(jobs), disable=not progress, desc="preprocess"))
    else:
        results = [_job(j) for j in tqdm(jobs, disable=not progress, desc="preprocess")]
    wall = time.time() - t0
    manifest = store.index(out, info)
    done = [store.read_meta(out, c["clip_id"]) for c in manifest["clips"]]
    new_frames = sum(m["n_frames"] for _, _, m in results if m is not None)
    summary = {
        "backend": pcfg.backend,
        "device": pcfg.device,
        "clips": len(manifest["clips"]),
        "skipped": manifest["skipped"],
        "processed_now": len(jobs),
        "frames": int(sum(m["n_frames"] for m in done)),
        "frames_per_s_wall": round(new_frames / wall, 1) if new_frames else None,
        "workers": workers,
    }
    with_gt = [m for m in done if "nme" in m]
    if with_gt:
        summary["nme"] = round(float(np.mean([m["nme"] for m in with_gt])), 4)
        summary["nme_mouth"] = round(float(np.mean([m["nme_mouth"] for m in with_gt])), 4)
        summary["pose_error_deg"] = dict(zip(["yaw", "pitch", "roll"],
                                             np.mean([m["pose_error_deg"] for m in with_gt], 0).round(2).tolist()))
        gz = [m["gaze_error"] for m in with_gt if m.get("gaze_error")]
        if gz:  # mean absolute gaze error of the iris detector, eye widths
            summary["gaze_error"] = dict(zip(["x", "y"], np.mean(gz, 0).round(4).tolist()))
    return summary


def _versions() -> dict:
    from importlib.metadata import version

    out = {}
    for pkg in ("spacex-kit", "numpy", "librosa", "facenet-pytorch", "dlib-bin", "face-alignment", "torch"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # noqa: BLE001 (a missing optional package is just not listed)
            pass
    return out
