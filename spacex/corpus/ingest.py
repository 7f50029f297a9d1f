"""Map real datasets into the kit's clip format (see `spacex.corpus.clip`).

    spacex corpus ingest --layout voxceleb2 ~/datasets/vox2/dev/mp4 data/vox2
    spacex corpus ingest --layout mead      ~/datasets/MEAD          data/mead
    spacex corpus ingest --layout ravdess   ~/datasets/RAVDESS       data/ravdess
    spacex corpus ingest --layout folder    ~/my_videos              data/mine

Layouts (what is read from the path):
- voxceleb2: <speaker id>/<youtube id>/<utt>.mp4 (speaker = id, no emotion labels).
- mead:      <actor>/video/<view>/<emotion>/level_<n>/<utt>.mp4, intensity n/3 (neutral: 1.0, see
             `intensity`); only the `front` view is
             used. MEAD ships audio separately (<actor>/audio/<emotion>/level_<n>/<utt>.m4a): it is muxed in
             when the video has none.
- ravdess:   Actor_<nn>/<modality>-<channel>-<emotion>-<intensity>-<statement>-<rep>-<actor>.mp4; emotion
             codes 01..08, intensity 01 normal (0.5) / 02 strong (1.0) (neutral and calm: 1.0); video-only
             files (modality 02) take
             the audio of the matching audio-visual file when present, else are skipped.
- folder:    any *.mp4/*.mov/*.mkv/*.avi/*.webm below the root; speaker = parent folder name.

Every file is decoded in full (a truncated file fails here, not in training), must have a video stream
and an audio stream (or a sidecar audio file as above), a sane frame rate and duration, and audio as long as
the video (within `max_av_gap_s`). Clips keep their native frame rate (preprocessing resamples the per-frame
tracks to the model rate: docs/preprocess.md, "Frame rates"); `fps` converts them to one rate instead (frames
repeated or dropped). Clips already H.264 + AAC (at `fps`, if given) are copied; others are converted (audio to
mono AAC). The source folder is only read.
Every rejected file is listed in <dst>/skipped.csv with its reason. Splits are by speaker (hash-based, so
they are stable when the dataset grows).

Clip ids are a readable ASCII slug of the path plus 8 hex digits of the SHA-1 of the file's path relative to
the dataset root (`clip_id`): distinct files get distinct ids whatever their names (`a b.mp4` and `a-b.mp4`,
`vidéo 宇.mp4`), and the same file gets the same id on every machine. Ingesting into a folder that already
holds a corpus adds to it: its manifest rows are kept, a file ingested again replaces its own clip, and a
clip id that already names a clip from another source file is refused for that file (skipped, with both
files named), never overwritten.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spacex import files, media
from spacex.corpus import clip as clipfmt
from spacex.errors import CorpusError, OutputError

VIDEO_EXT = {".mp4", ".mov", ".mkv", ".avi", ".webm"}
AUDIO_EXT = {".m4a", ".wav", ".flac", ".mp3", ".aac"}
OUT_SAMPLE_RATE = 48_000

MEAD_EMOTIONS = {"angry": "angry", "contempt": "contempt", "disgusted": "disgust", "fear": "fear",
                 "happy": "happy", "neutral": "neutral", "sad": "sad", "surprised": "surprise"}
RAVDESS_EMOTIONS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fear", 7: "disgust", 8: "surprise"}
RAVDESS_STATEMENTS = {1: "Kids are talking by the door.", 2: "Dogs are sitting by the door."}


def intensity(emotion: str, level: float) -> float:
    """A clip's emotion intensity from its dataset level. Neutral has no degree: MEAD records it at level 1 only
    (1/3 by the level rule) and RAVDESS at "normal" only (0.5), while SynthTalk and the inference default
    (`neutral:1.0`) use 1.0; every neutral clip (RAVDESS's calm, which the kit reads as neutral, included) is
    therefore 1.0, so the emotion vector a model trains on for neutral is the one it is given at inference."""
    return 1.0 if emotion in ("neutral", "calm") else round(float(level), 4)


@dataclass
class Candidate:
    path: Path  # the video file
    clip_id: str
    speaker: str
    emotion: str = ""
    intensity: float | None = None
    text: str = ""
    audio_path: Path | None = None  # separate audio to use when the video has none


@dataclass
class Limits:
    fps_range: tuple[float, float] = (10.0, 120.0)
    duration_range: tuple[float, float] = (0.5, 600.0)
    max_av_gap_s: float = 0.2
    min_side: int = 64


def _slug(*parts: str) -> str:
    """Readable ASCII: accents dropped (é -> e), anything else outside [A-Za-z0-9-] -> '-', parts joined by '_'."""
    ascii_parts = (unicodedata.normalize("NFKD", p).encode("ascii", "ignore").decode() for p in parts if p)
    return "_".join(filter(None, (re.sub(r"[^A-Za-z0-9-]+", "-", p).strip("-") for p in ascii_parts)))


def clip_id(rel: Path, *parts: str) -> str:
    """slug(parts) + '-' + 8 hex of sha1(rel): readable, and distinct for distinct relative paths."""
    digest = hashlib.sha1(rel.as_posix().encode()).hexdigest()[:8]
    return f"{(_slug(*parts) or 'clip')[:80]}-{digest}"


def scan(layout: str, src: Path) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """Find the dataset's clips from its folder layout; files that do not fit are returned as skipped."""
    cands, skipped = [], []
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for p in files:
        rel = p.relative_to(src)
        if p.suffix.lower() not in VIDEO_EXT:
            if not (layout == "mead" and p.suffix.lower() in AUDIO_EXT) and not (layout == "ravdess" and p.suffix.lower() == ".wav"):
                skipped.append((str(rel), f"not a video file ({p.suffix or 'no extension'})"))
            continue
        parts = rel.parts
        if layout == "voxceleb2":
            if len(parts) < 3:
                skipped.append((str(rel), "not <speaker>/<video>/<utt>.mp4"))
                continue
            cands.append(Candidate(p, clip_id(rel, parts[-3], parts[-2], p.stem), speaker=parts[-3]))
        elif layout == "mead":
            m = re.search(r"(?P<actor>[^/]+)/video/(?P<view>[^/]+)/(?P<emo>[^/]+)/level_(?P<lvl>\d)/(?P<utt>[^/]+)$",
                          rel.as_posix())
            if not m:
                skipped.append((str(rel), "not <actor>/video/<view>/<emotion>/level_<n>/<utt>.mp4"))
                continue
            if m["view"] != "front":
                continue  # side views are not talking-head material for this kit; not an error
            emo = MEAD_EMOTIONS.get(m["emo"])
            if emo is None:
                skipped.append((str(rel), f"unknown MEAD emotion {m['emo']!r}"))
                continue
            audio = src / m["actor"] / "audio" / m["emo"] / f"level_{m['lvl']}" / f"{Path(m['utt']).stem}.m4a"
            cands.append(Candidate(p, clip_id(rel, "mead", m["actor"], m["emo"], f"l{m['lvl']}", Path(m["utt"]).stem),
                                   speaker=m["actor"], emotion=emo, intensity=intensity(emo, int(m["lvl"]) / 3),
                                   audio_path=audio if audio.exists() else None))
        elif layout == "ravdess":
            codes = p.stem.split("-")
            if len(codes) != 7 or not all(c.isdigit() for c in codes):
                skipped.append((str(rel), "name is not a RAVDESS code (MM-VV-EE-II-SS-RR-AA)"))
                continue
            mod, chan, emo, inten, stmt, _rep, actor = (int(c) for c in codes)
            if chan != 1:
                skipped.append((str(rel), "song, not speech"))
                continue
            if mod == 3:
                continue  # audio-only: used as sidecar audio for video-only files
            audio = None
            if mod == 2:
                twin = p.with_name("-".join(["01"] + codes[1:]) + p.suffix)
                wav = p.with_name("-".join(["03"] + codes[1:]) + ".wav")
                audio = twin if twin.exists() else wav if wav.exists() else None
            cands.append(Candidate(p, clip_id(rel, "ravdess", p.stem), speaker=f"actor{actor:02d}",
                                   emotion=RAVDESS_EMOTIONS.get(emo, ""),
                                   intensity=intensity(RAVDESS_EMOTIONS.get(emo, ""), 0.5 if inten == 1 else 1.0),
                                   text=RAVDESS_STATEMENTS.get(stmt, ""), audio_path=audio))
        elif layout == "folder":
            cands.append(Candidate(p, clip_id(rel, *parts[:-1], p.stem),
                                   speaker=parts[-2] if len(parts) > 1 else "unknown"))
        else:
            raise ValueError(f"unknown layout {layout!r}")
    return cands, skipped


def split_for(speaker: str, val: float = 0.1, test: float = 0.1) -> str:
    h = int(hashlib.sha1(speaker.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test else "val" if h < test + val else "train"


def _convert(video: Path, audio_src: Path, out: Path, fps: float, n_out: int) -> None:
    """Re-encode to H.264 with `n_out` frames at `fps` + mono AAC of the same length.

    Output frame k shows the latest source frame whose timestamp is at or before k / fps.
    """
    audio, _ = media.read_audio(audio_src, OUT_SAMPLE_RATE)
    n_samples = int(round(n_out / fps * OUT_SAMPLE_RATE))
    audio = np.pad(audio[:n_samples], (0, max(0, n_samples - len(audio))))

    def frames():
        k, last, t0 = 0, None, None
        for ts, img in media.iter_frames(video):
            t0 = ts if t0 is None else t0
            while last is not None and k < n_out and k / fps < ts - t0 - 1e-6:
                yield last
                k += 1
            last = img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]  # even sides for yuv420p
        while last is not None and k < n_out:
            yield last
            k += 1

    media.write_video(out, frames(), fps, audio, OUT_SAMPLE_RATE)


def ingest_one(cand: Candidate, dst: Path, fps: float | None, limits: Limits) -> clipfmt.ClipMeta:
    """Validate and convert one file (to `fps`, or at its own rate when None); raises media.MediaError with the
    reason to skip it."""
    info = media.probe(cand.path)
    fps = fps or info.fps
    lo, hi = limits.fps_range
    if not lo <= info.fps <= hi:
        raise media.MediaError(f"frame rate {info.fps:.2f} outside {lo}-{hi}")
    if info.n_frames == 0:
        raise media.MediaError("no decodable frames")
    if info.declared_frames and info.n_frames < info.declared_frames - 1:
        raise media.MediaError(f"truncated: decoded {info.n_frames} of {info.declared_frames} frames")
    if min(info.width, info.height) < limits.min_side:
        raise media.MediaError(f"resolution {info.width}x{info.height} below {limits.min_side} px")
    lo, hi = limits.duration_range
    if not lo <= info.video_duration <= hi:
        raise media.MediaError(f"duration {info.video_duration:.2f}s outside {lo}-{hi}s")
    audio_src = cand.path
    if not info.has_audio or not info.audio_duration:
        if cand.audio_path is None:
            raise media.MediaError("no audio stream" if not info.has_audio else "empty audio stream")
        audio_src = cand.audio_path
        audio_duration = media.audio_duration(audio_src)
    else:
        audio_duration = info.audio_duration
    if abs(audio_duration - info.video_duration) > limits.max_av_gap_s:
        raise media.MediaError(f"audio {audio_duration:.2f}s vs video {info.video_duration:.2f}s "
                               f"(more than {limits.max_av_gap_s}s apart: truncated?)")
    out = clipfmt.clip_paths(dst, cand.clip_id)["video"]
    conform = (audio_src == cand.path and info.video_codec == "h264" and info.audio_codec == "aac"
               and abs(info.fps - fps) < 1e-3 and info.width % 2 == 0 and info.height % 2 == 0)
    if conform:
        with files.atomic_path(out) as tmp:
            shutil.copyfile(cand.path, tmp)
        n_frames, sr = info.n_frames, info.sample_rate
        action = "copied"
    else:
        n_frames = info.n_frames if fps == info.fps else int(round(info.video_duration * fps))
        _convert(cand.path, audio_src, out, fps, n_frames)
        sr = OUT_SAMPLE_RATE
        action = "converted"
    meta = clipfmt.ClipMeta(
        clip_id=cand.clip_id, split=split_for(cand.speaker), dataset="", speaker=cand.speaker,
        identity=cand.speaker, emotion=cand.emotion, intensity=cand.intensity, n_frames=n_frames, fps=fps,
        sample_rate=sr, width=info.width // 2 * 2, height=info.height // 2 * 2, text=cand.text,
        source=str(cand.path), has_groundtruth=False,
        extra={"action": action, "source_fps": info.fps, "audio_source": str(audio_src)},
    )
    return meta


def _job(args):
    cand, dst, fps, limits, dataset = args
    try:
        meta = ingest_one(cand, dst, fps, limits)
        meta.dataset = dataset
        clipfmt.write_meta(dst, meta)
        return meta, None
    except (media.MediaError, OSError) as e:
        return None, str(e)


def _claim_ids(cands: list[Candidate], existing: dict[str, dict], src: Path) -> tuple[list[Candidate], list]:
    """Candidates whose id is free (or already theirs) and the (path, reason) of those whose id is taken."""
    ok, skipped, seen = [], [], {}
    for c in cands:
        rel = str(c.path.relative_to(src))
        owner = existing.get(c.clip_id, {}).get("source")
        if owner and owner != str(c.path):
            skipped.append((rel, f"clip id {c.clip_id} already names a clip from {owner} in this corpus"))
        elif c.clip_id in seen:
            skipped.append((rel, f"clip id {c.clip_id} is also the id of {seen[c.clip_id]}"))
        else:
            seen[c.clip_id] = rel
            ok.append(c)
    return ok, skipped


def ingest(layout: str, src: str | Path, dst: str | Path, fps: float | None = None, workers: int = 2,
           limits: Limits | None = None, progress: bool = True) -> dict:
    """Ingest a dataset folder into a corpus; returns {'clips', 'skipped': [(path, reason)], ...}."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_dir():
        raise CorpusError(f"{src} is not a folder")
    if dst == src or src in dst.parents or dst in src.parents:
        raise OutputError(f"the destination {dst} must be outside the source folder {src} and not around it "
                          "(the source is never modified)")
    if dst.exists() and not dst.is_dir():
        raise OutputError(f"the destination {dst} is a file")
    existing = {r["clip_id"]: r for r in clipfmt.read_manifest(dst)} if (dst / "manifest.csv").exists() else {}
    (dst / "clips").mkdir(parents=True, exist_ok=True)
    limits = limits or Limits()
    cands, skipped = scan(layout, src)
    cands, taken = _claim_ids(cands, existing, src)
    skipped += taken
    jobs = [(c, dst, fps, limits, layout) for c in cands]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(tqdm(pool.map(_job, jobs), total=len(jobs), disable=not progress, desc="ingest"))
    else:
        results = [_job(j) for j in tqdm(jobs, disable=not progress, desc="ingest")]
    metas = []
    for cand, (meta, reason) in zip(cands, results):
        if meta is None:
            skipped.append((str(cand.path.relative_to(src)), reason))
        else:
            metas.append(meta)
    # Add to what the folder held: earlier rows stay, a re-ingested file replaces its own row.
    rows = {**existing, **{m.clip_id: m.row() for m in metas}}
    clipfmt.write_manifest(dst, list(rows.values()))
    done = {str(c.path.relative_to(src)) for c, (m, _) in zip(cands, results) if m is not None}
    earlier = [(p, r) for p, r in clipfmt.read_skipped(dst) if p not in done and p not in dict(skipped)]
    clipfmt.write_skipped(dst, earlier + skipped)
    report = {"layout": layout, "source": str(src), "clips": len(metas), "corpus_clips": len(rows),
              "converted": sum(m.extra["action"] == "converted" for m in metas),
              "copied": sum(m.extra["action"] == "copied" for m in metas),
              "skipped": sorted(skipped)}
    clipfmt.write_corpus_info(dst, {k: v for k, v in report.items()})
    return report
