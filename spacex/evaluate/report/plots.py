"""The report's figures: metric bars with bootstrap intervals, per-clip distributions, mouth traces."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from spacex.evaluate.report.inputs import METRICS, arrow, bootstrap_interval


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(names: list[str]) -> dict[str, tuple]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def _metric_axes(plt, n: int, cols: int = 4):
    """A figure with one subplot per metric (n), 4 per row; unused subplots hidden -> (fig, the n axes)."""
    cols = min(cols, max(n, 1))
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_bars(ok: list[dict], columns: list[str], path: Path,
              per_clip: dict[str, dict[str, np.ndarray]] | None = None) -> Path | None:
    """One subplot per metric, one bar per method; infinite values are marked ∞ above the axis. With per-clip
    values, each bar carries its 95% bootstrap interval over clips (metrics pooled over clips, like FID, have
    none)."""
    if not ok or not columns:
        return None
    plt = _pyplot()
    names = [m["method"] for m in ok]
    colours = _colours(names)
    fig, axes = _metric_axes(plt, len(columns))
    for ax, metric in zip(axes, columns):
        vals = np.array([m["metrics"].get(metric, math.nan) for m in ok])
        finite = np.isfinite(vals)
        x = np.arange(len(names))
        ax.bar(x[finite], vals[finite], color=[colours[n] for n, f in zip(names, finite) if f])
        for i, n in enumerate(names):
            ci = bootstrap_interval((per_clip or {}).get(n, {}).get(metric, [])) if finite[i] else None
            if ci is not None:
                ax.errorbar(i, vals[i], yerr=[[max(vals[i] - ci[0], 0)], [max(ci[1] - vals[i], 0)]], color="0.15",
                            capsize=3, lw=1)
        for i in np.flatnonzero(np.isinf(vals)):
            ax.annotate("∞", (i, 1), xycoords=("data", "axes fraction"), ha="center", va="top", fontsize=12)
        for i in np.flatnonzero(np.isnan(vals)):  # not available: say so, a missing bar would read as zero
            ax.annotate("n/a", (i, 0.02), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7,
                        color="0.4")
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{metric} {arrow(metric)}".rstrip(), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    return _save(plt, fig, path)


def plot_per_clip(per_clip: dict[str, dict[str, np.ndarray]], order: list[str], path: Path) -> Path | None:
    """Box plots of each per-clip metric across methods (finite values only)."""
    names = [n for n in order if n in per_clip]
    have = {c for n in names for c, v in per_clip[n].items() if np.isfinite(v).any()}
    metrics = [k for k in METRICS if k in have] + sorted(have - set(METRICS) - {"frames", "offset"})
    if not metrics:
        return None
    plt = _pyplot()
    colours = _colours(order)
    fig, axes = _metric_axes(plt, len(metrics))
    for ax, metric in zip(axes, metrics):
        data, labels = [], []
        for n in names:
            v = per_clip[n].get(metric)
            v = v[np.isfinite(v)] if v is not None else np.zeros(0)
            if len(v):
                data.append(v)
                labels.append(n)
        box = ax.boxplot(data, patch_artist=True, widths=0.6)
        for patch, n in zip(box["boxes"], labels):
            patch.set_facecolor(colours[n])
            patch.set_alpha(0.6)
        ax.set_xticks(np.arange(1, len(labels) + 1), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{metric} {arrow(metric)} (per clip)".replace("  ", " "), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    return _save(plt, fig, path)


def plot_traces(traces: dict[str, dict[str, np.ndarray]], order: list[str], clip: str, fps: float,
                path: Path) -> Path:
    """Mouth opening of the ground truth and of each method for one clip, with the audio envelope scaled to the
    ground-truth mouth range."""
    plt = _pyplot()
    names = [n for n in order if n in traces]
    ref = "ground_truth" if "ground_truth" in names else names[0]
    gt = np.asarray(traces[ref][f"{clip}/mouth_gt"], np.float64)
    env = np.asarray(traces[ref][f"{clip}/envelope"], np.float64)
    colours = _colours(order)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    top = np.nanmax(gt) if np.isfinite(gt).any() else 1.0
    if np.isfinite(env).any() and np.nanmax(env) > 0:
        scaled = env / np.nanmax(env) * (top if top > 0 else 1.0)
        t = np.arange(len(scaled)) / fps
        ax.fill_between(t, 0, scaled, color="0.85", label="audio envelope (scaled)")
    ax.plot(np.arange(len(gt)) / fps, gt, color="black", lw=2, label="ground truth mouth")
    for n in names:
        if n == "ground_truth":
            continue  # its mouth is the ground truth's
        y = np.asarray(traces[n][f"{clip}/mouth_gen"], np.float64)
        ax.plot(np.arange(len(y)) / fps, y, color=colours[n], lw=1.2, label=n)
    ax.set_xlabel("seconds")
    ax.set_ylabel("mouth opening (crop px)")
    ax.set_title(f"Mouth opening vs audio envelope: {clip}")
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    return _save(plt, fig, path)
