"""Corpus checks: every clip decodes with matching streams, and the SynthTalk sanity figure.

The sanity figure: within a clip, per-frame mouth opening (inner-lip gap) should correlate positively with
the audio energy envelope (RMS over one video frame), as it does in real speech (vowels are loud and
open the jaw; closures and pauses are quiet).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spacex import landmarks as lm
from spacex import media
from spacex.corpus import clip as clipfmt
from spacex.errors import CorpusError


def energy_envelope(audio: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS energy per video frame (n_frames,), window = two frames centred on each frame's middle."""
    import librosa

    hop = sample_rate / fps
    if abs(hop - round(hop)) > 1e-6:
        raise ValueError(f"sample rate {sample_rate} is not a whole number of samples per frame at {fps} fps")
    hop = int(round(hop))
    # center=True centres window i on sample i * hop; dropping half a frame centres it on frame i's middle.
    shifted = np.pad(audio[hop // 2:], (0, hop * 2))
    rms = librosa.feature.rms(y=shifted, frame_length=2 * hop, hop_length=hop, center=True)[0]
    return rms[:n_frames] if len(rms) >= n_frames else np.pad(rms, (0, n_frames - len(rms)))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def mouth_energy_correlation(landmarks: np.ndarray, audio: np.ndarray, sample_rate: int, fps: float) -> float:
    """Pearson r between inner-lip gap (T,) and audio energy (T,) over one clip."""
    opening = lm.mouth_opening(landmarks)
    return pearson(opening, energy_envelope(audio, sample_rate, fps, len(opening)))


@dataclass
class ClipCheck:
    clip_id: str
    ok: bool
    reason: str
    n_frames_video: int
    n_frames_meta: int
    n_frames_gt: int | None
    video_duration: float
    audio_duration: float | None
    mouth_energy_r: float | None


def check_clip(root: str | Path, row: dict) -> ClipCheck:
    cid = row["clip_id"]
    paths = clipfmt.clip_paths(root, cid)
    try:
        meta = clipfmt.read_meta(root, cid)
    except CorpusError as e:
        return ClipCheck(cid, False, str(e), 0, 0, None, 0.0, None, None)
    problems = []
    try:
        info = media.probe(paths["video"])
    except media.MediaError as e:
        return ClipCheck(cid, False, str(e), 0, meta.n_frames, None, 0.0, None, None)
    if not info.has_audio:
        problems.append("no audio stream")
    elif abs(info.audio_duration - info.video_duration) > 1.0 / info.fps:
        problems.append(f"audio {info.audio_duration:.3f}s vs video {info.video_duration:.3f}s")
    if info.n_frames != meta.n_frames:
        problems.append(f"video has {info.n_frames} frames, metadata says {meta.n_frames}")
    n_gt, r = None, None
    if meta.has_groundtruth:
        gt = clipfmt.read_groundtruth(root, cid)
        n_gt = len(gt["landmarks"])
        if n_gt != info.n_frames:
            problems.append(f"ground truth has {n_gt} frames, video {info.n_frames}")
        elif info.has_audio:
            audio, sr = media.read_audio(paths["video"])
            audio = audio[: int(round(info.n_frames * sr / info.fps))]
            r = mouth_energy_correlation(gt["landmarks_norm"], audio, sr, info.fps)
    return ClipCheck(cid, not problems, "; ".join(problems), info.n_frames, meta.n_frames, n_gt,
                     info.video_duration, info.audio_duration, r)


def check_corpus(root: str | Path, workers: int = 2) -> tuple[list[ClipCheck], dict]:
    """Check every clip in the manifest (`workers` processes, results in manifest order); returns per-clip results
    and summary figures."""
    rows = clipfmt.read_manifest(root, unique=False)
    dups = clipfmt.duplicate_ids(rows)
    if workers > 1 and len(rows) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            checks = list(pool.map(check_clip, [root] * len(rows), rows))
    else:
        checks = [check_clip(root, row) for row in rows]
    for c in checks:  # two rows for one id: one clip file stands for both, and one of them was overwritten
        if c.clip_id in dups:
            c.ok = False
            c.reason = "; ".join(filter(None, [f"duplicate clip id ({dups[c.clip_id]} manifest rows)", c.reason]))
    rs = np.array([c.mouth_energy_r for c in checks if c.mouth_energy_r is not None], float)
    summary = {
        "clips": len(checks),
        "clips_ok": int(sum(c.ok for c in checks)),
        "frames": int(sum(c.n_frames_video for c in checks)),
        "hours": round(sum(c.video_duration for c in checks) / 3600, 4),
        "splits": {s: sum(r["split"] == s for r in rows) for s in clipfmt.SPLITS},
        "speakers": len({r["speaker"] for r in rows}),
        "identities": len({r["identity"] for r in rows}),
        "max_av_duration_gap_s": round(max((abs(c.audio_duration - c.video_duration) for c in checks
                                            if c.audio_duration is not None), default=0.0), 4),
    }
    if len(rs):
        summary.update({
            "mouth_energy_r_median": round(float(np.median(rs)), 4),
            "mouth_energy_r_min": round(float(rs.min()), 4),
            "mouth_energy_r_positive_fraction": round(float((rs > 0).mean()), 4),
        })
    return checks, summary


def checks_table(checks: list[ClipCheck]) -> list[dict]:
    return [asdict(c) for c in checks]


def write_report(root: str | Path, out_dir: str | Path, workers: int = 2) -> dict:
    """The corpus stage's outputs: summary.json (DVC metrics), clips.csv (per clip), mouth_energy.png."""
    import csv
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    checks, summary = check_corpus(root, workers)
    rows = checks_table(checks)
    with open(out / "clips.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))

    # Figure: one clip's mouth opening against its audio energy, and the per-clip correlations.
    with_gt = [c for c in checks if c.mouth_energy_r is not None]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [3, 1]})
    if with_gt:
        c = sorted(with_gt, key=lambda c: c.mouth_energy_r)[len(with_gt) // 2]  # the median clip
        gt = clipfmt.read_groundtruth(root, c.clip_id)
        audio, sr = media.read_audio(clipfmt.clip_paths(root, c.clip_id)["video"])
        fps = c.n_frames_video / c.video_duration
        opening = lm.mouth_opening(gt["landmarks_norm"])
        energy = energy_envelope(audio[: int(round(c.n_frames_video * sr / fps))], sr, fps, len(opening))
        t = np.arange(len(opening)) / fps
        axes[0].plot(t, opening / opening.max(), label="mouth opening (inner-lip gap)")
        axes[0].plot(t, energy / energy.max(), label="audio RMS energy", alpha=0.8)
        axes[0].set(xlabel="seconds", title=f"{c.clip_id} (r = {c.mouth_energy_r:.2f}, the median clip)")
        axes[0].legend(loc="upper right", fontsize=8)
        axes[1].hist([c.mouth_energy_r for c in with_gt], bins=12)
        axes[1].set(xlabel="per-clip r", title="mouth vs energy")
    fig.tight_layout()
    fig.savefig(out / "mouth_energy.png", dpi=100)
    plt.close(fig)
    return summary
