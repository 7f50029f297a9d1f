"""The preprocess stage's report: summary.json (DVC metrics), the skip report, and a figure of one clip:
detected landmarks on a frame, the normalized landmarks, and the estimated head pose over time (against the
ground truth when the corpus has it)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from spacex import files, media
from spacex.corpus import clip as clipfmt
from spacex.preprocess import store


def write_report(summary: dict, corpus_root: str | Path, store_dir: str | Path, out_dir: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, store_dir = Path(out_dir), Path(store_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Timings change from run to run: keep them out of the DVC metrics so dvc.lock only moves with results.
    timing_keys = ("frames_per_s_wall", "processed_now", "workers", "device")
    files.write_metrics(out / "summary.json", {k: v for k, v in summary.items() if k not in timing_keys})
    (out / "timing.json").write_text(json.dumps({k: summary.get(k) for k in timing_keys}, indent=1))
    shutil.copyfile(store_dir / "skipped.csv", out / "skipped.csv")
    clips = store.read_manifest(store_dir)["clips"]
    if not clips:
        return
    cid = clips[0]["clip_id"]
    arr = store.read_clip(store_dir, cid)
    corpus_root = store.read_meta(store_dir, cid).get("corpus", corpus_root)  # the clip's own corpus
    frames, fps = media.read_frames(clipfmt.clip_paths(corpus_root, cid)["video"])
    t = int(np.argmax(np.abs(arr["rotation"][:, 0])))  # the most turned frame
    fig, ax = plt.subplots(1, 3, figsize=(13, 4), gridspec_kw={"width_ratios": [1, 1, 2]})
    ax[0].imshow(frames[t])
    ax[0].scatter(*arr["landmarks"][t, :, :2].T, s=4, c="lime", label=summary["backend"])
    gt_path = clipfmt.clip_paths(corpus_root, cid)["gt"]
    gt = clipfmt.read_groundtruth(corpus_root, cid) if gt_path.exists() else None
    if gt is not None:
        ax[0].scatter(*gt["landmarks"][t, :, :2].T, s=4, c="red", marker="x", label="ground truth")
    x0, y0, x1, y1 = arr["crop_box"]
    ax[0].plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], "y--", lw=1)
    ax[0].legend(fontsize=7, loc="lower left")
    ax[0].set(title=f"{cid} frame {t}", xticks=[], yticks=[])
    ax[1].scatter(*arr["landmarks_norm"][t, :, :2].T, s=6)
    ax[1].set(title="normalized (frontal, ears 1 apart)", aspect="equal")
    ax[1].invert_yaxis()
    time = np.arange(len(arr["rotation"])) / fps
    for k, name in enumerate(["yaw", "pitch", "roll"]):
        line, = ax[2].plot(time, arr["rotation"][:, k], label=f"{name} estimated")
        if gt is not None:
            ax[2].plot(time, gt["rotation"][:, k], "--", color=line.get_color(), alpha=0.7, label=f"{name} truth")
    ax[2].set(xlabel="seconds", ylabel="degrees", title="head pose")
    ax[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "landmarks_pose.png", dpi=90)
    plt.close(fig)
