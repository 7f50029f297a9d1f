"""The comparison report: one table, plots, side-by-side videos with sound, and a wandb run.

    summary = build_report(Path("build/evaluate"), Path("reports/evaluate"), Path("reports/report"))

Inputs are what score.py writes, one set per method (spacex, ground_truth, static, wav2lip, ... or any folder):

    <reports_dir>/<method>.json              status ok | unavailable, metrics {name: float | "inf" | null},
                                             unavailable_metrics {name: reason}, protocol, clips, skipped
    <evaluate_out>/<method>/per_clip.csv     clip_id, frames, offset, then per-clip metric columns (empty: n/a)
    <evaluate_out>/<method>/traces.npz       <clip_id>/mouth_gen, <clip_id>/mouth_gt, <clip_id>/envelope (25 fps)
    <evaluate_out>/<method>/eval/<clip>.mp4  the face crops exactly as scored, with the 16 kHz audio
    <reports_dir>/../ablation/*.json         optional: {variant, stage, overrides, metrics}; the full model's row
                                             comes from <reports_dir>/../train_<stage>/metrics.json

Outputs in report_dir:

    table.md, table.csv          one row per scored method; "Not run", "Metrics not computed", skipped clips,
                                 and the ablation table when ablation JSONs exist (also ablation.csv)
    metrics_bars.png             one subplot per metric, methods as bars with 95% bootstrap intervals over clips
    per_clip_box.png             per-clip distributions (box plots) per metric across methods
    traces.png                   mouth opening (ground truth and each method) with the scaled audio envelope
    side_by_side/<clip>.mp4      each method's scored crops side by side, labelled, with the ground-truth audio
    summary.json                 methods ok / unavailable, files written, the wandb run directory
    wandb/                       one run (job_type "report"), mode from WANDB_MODE (default offline)

Missing inputs never stop the report: a method without per_clip.csv, traces or eval videos is left out of that
plot or of the videos, and the reason goes to summary["warnings"].
"""
from __future__ import annotations

import csv
import json
import math
from itertools import islice
from pathlib import Path

import numpy as np

from spacex import files, media, tracking
from spacex.evaluate.metrics import registry

# Canonical column order; names score.py may add later are appended after these, sorted.
METRICS, HIGHER, LOWER = registry.TABLE, registry.HIGHER, registry.LOWER  # spacex.evaluate.metrics.registry
REFERENCES = ("ground_truth", "static")  # reference rows: not candidates for "best"
PREFERRED = ("spacex",) + REFERENCES  # default row order: these first, then the rest alphabetically
SIDE_BY_SIDE = "side_by_side"


# ------------------------------------------------------------------------------------------- values

def _float(v) -> float:
    """A metric value from JSON/CSV as a float: None or "" -> nan, "inf" -> inf."""
    if v is None:
        return math.nan
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def arrow(metric: str) -> str:
    return "↑" if metric in HIGHER else "↓" if metric in LOWER else ""


def fmt(v: float | None) -> str:
    """A number for the markdown table: 3 decimals from 1 up (1 decimal from 1000 up), 3 significant digits below 1
    (0.812, 0.0199), ∞ for inf, an en dash for a missing value."""
    if v is None or math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:.1f}"
    if a < 1:
        return f"{v:#.3g}"
    return f"{v:.3f}"


def _csv_value(v: float) -> str:
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


# ------------------------------------------------------------------------------------------- inputs

def load_method(evaluate_out: Path, reports_dir: Path, name: str) -> dict:
    """One method's report JSON, normalized: status, reason, metrics as floats, file locations."""
    path = reports_dir / f"{name}.json"
    base = {"method": name, "dir": evaluate_out / name, "json": path, "metrics": {}, "unavailable_metrics": {},
            "skipped": [], "clips": 0, "protocol": {}}
    if not path.is_file():
        return {**base, "status": "unavailable", "reason": f"not scored (no {path})"}
    try:
        data = files.read_metrics(path)
    except (OSError, json.JSONDecodeError) as e:
        return {**base, "status": "unavailable", "reason": f"unreadable report {path}: {e}"}
    status = data.get("status", "ok")
    return {
        **base,
        "status": "ok" if status == "ok" else "unavailable",
        "reason": data.get("reason") or ("" if status == "ok" else f"status {status!r}"),
        "clips": int(data.get("clips") or 0),
        "skipped": [list(s) for s in data.get("skipped") or []],
        "protocol": data.get("protocol") or {},
        "metrics": {k: _float(v) for k, v in (data.get("metrics") or {}).items()},
        "unavailable_metrics": dict(data.get("unavailable_metrics") or {}),
    }


def discover_methods(reports_dir: Path) -> list[str]:
    """Method names: every <reports_dir>/*.json that looks like a score.py report."""
    names = []
    for p in sorted(reports_dir.glob("*.json")):
        if files.is_info(p):
            continue
        try:
            data = files.read_metrics(p)
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "status" in data and ("metrics" in data or data.get("status") != "ok"):
            names.append(p.stem)
    return names


def order_methods(names: list[str]) -> list[str]:
    """spacex first, then the reference rows ground_truth and static, then the rest alphabetically."""
    first = [n for n in PREFERRED if n in names]
    return first + sorted(n for n in names if n not in PREFERRED)


def read_per_clip(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """per_clip.csv -> (clip ids in file order, {column: (N,) float array}); empty cells are nan."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ids = [r["clip_id"] for r in rows]
    cols = [c for c in (rows[0].keys() if rows else []) if c != "clip_id"]
    return ids, {c: np.array([_float(r.get(c)) for r in rows], np.float64) for c in cols}


def bootstrap_interval(values: np.ndarray, level: float = 0.95, n: int = 2000, seed: int = 0
                       ) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean over clips (finite values only; seeded, so reports repeat);
    None with fewer than 2 values."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return None
    means = v[np.random.default_rng(seed).integers(0, len(v), (n, len(v)))].mean(1)  # (n,)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def metric_columns(methods: list[dict]) -> list[str]:
    """Metrics with a value (number or inf) for at least one scored method, canonical order first."""
    have = {k for m in methods for k, v in m["metrics"].items() if not math.isnan(v)}
    return [k for k in METRICS if k in have] + sorted(have - set(METRICS))


# ------------------------------------------------------------------------------------------- table

def _protocol_line(protocol: dict) -> str:
    s = protocol.get("crop_size", "?")
    margin = protocol.get("crop_margin")
    margin = f", margin {margin:g}" if isinstance(margin, (int, float)) else ""
    return (f"Protocol: {s}×{s} px face crop from the ground truth{margin}, {protocol.get('fps', '?')} fps, "
            f"{protocol.get('sample_rate', '?')} Hz mono audio. "
            "`av_*` is the kit's offline lip-sync score (mouth opening vs audio energy): it is not comparable with "
            "published LSE-D/LSE-C numbers (`lse_*`, `av_offset_syncnet` are SyncNet's).")


def table_rows(ok: list[dict], columns: list[str]) -> tuple[list[str], list[list[str]]]:
    """The CSV header and rows (strings): method, clips, then the metric columns."""
    header = ["method", "clips"] + columns
    rows = [[m["method"], str(m["clips"])] + [_csv_value(m["metrics"].get(c, math.nan)) for c in columns]
            for m in ok]
    return header, rows


def _best(ok: list[dict], metric: str) -> set[str]:
    """Methods with the best finite value of an arrowed metric, among non-reference methods (needs two)."""
    if metric not in HIGHER and metric not in LOWER:
        return set()
    vals = {m["method"]: m["metrics"].get(metric, math.nan) for m in ok if m["method"] not in REFERENCES}
    vals = {k: v for k, v in vals.items() if math.isfinite(v)}
    if len(vals) < 2:
        return set()
    target = max(vals.values()) if metric in HIGHER else min(vals.values())
    return {k for k, v in vals.items() if v == target}


def markdown(ok: list[dict], unavailable: list[dict], columns: list[str], protocol: dict,
             ablation: tuple[list[str], list[list[str]]] | None = None, notes: list[str] = ()) -> str:
    lines = ["# Evaluation report", "", _protocol_line(protocol), ""]
    lines += [f"> {n}" for n in notes]
    if notes:
        lines.append("")
    if ok:
        best = {c: _best(ok, c) for c in columns}
        head = ["method", "clips"] + [f"{c} {arrow(c)}".rstrip() for c in columns]
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
        for m in ok:
            cells = [m["method"], str(m["clips"])]
            for c in columns:
                s = fmt(m["metrics"].get(c, math.nan))
                cells.append(f"**{s}**" if m["method"] in best[c] else s)
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "↑ higher is better, ↓ lower is better; **bold**: best among the generated methods "
                  f"({' and '.join(REFERENCES)} are reference rows). Metrics without an arrow (offsets, blink rate, "
                  "head-pose statistics) have no better direction: compare them with the ground_truth row. "
                  "–: not available for that method."]
    else:
        lines.append("No method was scored.")
    if unavailable:
        lines += ["", "## Not run", ""]
        lines += [f"- **{m['method']}**: {m['reason'] or 'no reason given'}" for m in unavailable]
    missing: dict[str, dict[str, list[str]]] = {}  # metric -> reason -> methods
    for m in ok:
        for k, reason in m["unavailable_metrics"].items():
            missing.setdefault(k, {}).setdefault(str(reason), []).append(m["method"])
    if missing:
        lines += ["", "## Metrics not computed", ""]
        order = [k for k in METRICS if k in missing] + sorted(set(missing) - set(METRICS))
        for k in order:
            for reason, who in missing[k].items():
                scope = "" if len(who) == len(ok) else f" ({', '.join(who)})"
                lines.append(f"- `{k}`{scope}: {reason}")
    skipped = [(m["method"], s) for m in ok for s in m["skipped"]]
    if skipped:
        lines += ["", "## Skipped clips", ""]
        lines += [f"- {name}: `{s[0]}`: {s[1] if len(s) > 1 else ''}" for name, s in skipped]
    if ablation:
        header, rows = ablation
        lines += ["", "## Ablation", "",
                  "Training validation metrics of each variant (`full`: the model as configured).", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
        for r in rows:
            lines.append("| " + " | ".join(r[:3] + [fmt(_float(v)) for v in r[3:]]) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


# ------------------------------------------------------------------------------------------- ablation

def ablation_table(ablation_dir: Path) -> tuple[list[str], list[list[str]]] | None:
    """Rows stage, variant, overrides, metrics... from ablation_dir/*.json; each stage's full model first (from
    ablation_dir/../train_<stage>/metrics.json when it exists). None when there is no ablation JSON."""
    runs = []
    for p in sorted(ablation_dir.glob("*.json")) if ablation_dir.is_dir() else []:
        if files.is_info(p):
            continue
        try:
            d = files.read_metrics(p)
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(d, dict) and isinstance(d.get("metrics"), dict):
            runs.append(d)
    if not runs:
        return None
    stages = sorted({str(r.get("stage", "")) for r in runs})
    rows: list[tuple[str, str, str, dict]] = []
    for stage in stages:
        full = ablation_dir.parent / f"train_{stage}" / "metrics.json"
        if full.is_file():
            try:
                rows.append((stage, "full", "", json.loads(full.read_text())))
            except (OSError, json.JSONDecodeError):
                pass
        for r in sorted((r for r in runs if str(r.get("stage", "")) == stage), key=lambda r: str(r.get("variant"))):
            ov = r.get("overrides") or {}
            ov = "; ".join(f"{k}={v}" for k, v in ov.items()) if isinstance(ov, dict) else str(ov)
            rows.append((stage, str(r.get("variant", "?")), ov, r["metrics"]))
    names: list[str] = []
    for *_, mets in rows:
        names += [k for k, v in mets.items() if k not in names and isinstance(v, (int, float, str, type(None)))]
    header = ["stage", "variant", "overrides"] + names
    return header, [[s, v, o] + [_csv_value(_float(m.get(k))) for k in names] for s, v, o, m in rows]


# ------------------------------------------------------------------------------------------- plots

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


# ------------------------------------------------------------------------------------------- videos

def label_strip(text: str, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: the text in white on dark grey, centred, shrunk or cut to fit."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), (40, 40, 40))
    d = ImageDraw.Draw(img)
    size = max(6, int(height * 0.75))
    while True:
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # older Pillow: the fixed bitmap font
            font = ImageFont.load_default()
        if d.textlength(text, font=font) <= width - 2 or size <= 6:
            break
        size -= 1
    while len(text) > 1 and d.textlength(text, font=font) > width - 2:
        text = text[:-2] + "…"
    d.text((width / 2, height / 2), text, fill=(255, 255, 255), font=font, anchor="mm")
    return np.asarray(img, np.uint8)


def _frame_count(path: Path) -> int:
    info = media.probe(path, decode=False)
    return info.declared_frames or media.probe(path).n_frames


def side_by_side(paths: list[Path], labels: list[str], out: Path, fps: float, sample_rate: int,
                 audio_from: Path) -> tuple[Path, int]:
    """Frames of each video concatenated left to right (label strip above each panel), trimmed to the shortest,
    with audio_from's audio; returns the file and its frame count. Panels keep their width; a panel of another
    height is resized to the first panel's height."""
    from spacex.evaluate.protocol import resize

    n = min(_frame_count(p) for p in paths)
    first = media.probe(paths[0], decode=False)
    H = first.height
    strip_h = max(12, int(round(H * 0.14)))
    strip_h += strip_h % 2

    def frames():
        strips = {}
        for group in islice(zip(*(media.iter_frames(p) for p in paths)), n):
            panels = []
            for (_, f), label in zip(group, labels):
                if f.shape[0] != H:
                    f = resize(f, (H, int(round(f.shape[1] * H / f.shape[0]))))
                w = f.shape[1]
                if (label, w) not in strips:
                    strips[label, w] = label_strip(label, w, strip_h)
                panels.append(np.concatenate([strips[label, w], f], 0))
            row = np.concatenate(panels, 1)
            if row.shape[1] % 2:  # H.264 4:2:0 needs an even width
                row = np.concatenate([row, row[:, -1:]], 1)
            yield row

    audio, _ = media.read_audio(audio_from, sample_rate)
    audio = audio[: int(round(n / fps * sample_rate))]
    return media.write_video(out, frames(), fps, audio, sample_rate), n


# ------------------------------------------------------------------------------------------- wandb

def _log_wandb(project: str, report_dir: Path, header: list[str], rows: list[list[str]], plots: dict[str, Path],
               videos: dict[str, Path], ablation, config: dict) -> dict:
    mode = tracking.mode()
    if mode == "disabled":
        return {"mode": mode, "run_dir": None}

    def cell(v: str, col: str):
        if col in ("method",):
            return v
        f = _float(v)
        if math.isnan(f):
            return None
        return v if math.isinf(f) else f  # "inf" stays a string (JSON has no infinity)

    run = tracking.init(project, "report", "report", config, report_dir, job_type="report")
    if run is None:
        return {"mode": f"{mode} (wandb not installed)", "run_dir": None}
    import wandb

    try:
        data = [[cell(v, c) for v, c in zip(r, header)] for r in rows]
        logged = {"comparison": wandb.Table(columns=header, data=data, allow_mixed_types=True)}
        if ablation:
            ah, arows = ablation
            logged["ablation"] = wandb.Table(columns=ah, data=[r[:3] + [cell(v, c) for v, c in zip(r[3:], ah[3:])]
                                                                for r in arows], allow_mixed_types=True)
        logged.update({f"plots/{k}": wandb.Image(str(p)) for k, p in plots.items()})
        logged.update({f"videos/{k}": wandb.Video(str(p), format="mp4") for k, p in videos.items()})
        run.log(logged)
        for r in rows:
            for v, c in zip(r[2:], header[2:]):
                f = _float(v)
                if math.isfinite(f):
                    run.summary[f"{r[0]}/{c}"] = f
        result = {"mode": mode, "run_dir": str(Path(run.dir).parent), "run_id": run.id,
                  "run_path": None if mode == "offline" else "/".join(str(x) for x in (run.entity, run.project, run.id))}
    finally:
        run.finish()
    return result


# ------------------------------------------------------------------------------------------- report

def build_report(evaluate_out: Path, reports_dir: Path, report_dir: Path, methods: list[str] | None = None,
                 videos: int = 2, wandb_project: str | None = "spacex-kit",
                 ablation_dir: Path | None = None, training_runs_dir: Path | None = None) -> dict:
    """Write the comparison report to report_dir (see the module docstring); returns the summary dict (also
    report_dir/summary.json).

    methods: row order; None: every report JSON in reports_dir, spacex first, then ground_truth and static, then
        the rest alphabetically. videos: side-by-side videos for the first clips every scored method has an eval
        video for. wandb_project None: no wandb run. ablation_dir: default reports_dir/../ablation.
        training_runs_dir: the run folders of the evaluated checkpoints; their wandb runs are named in the report
        run's config (`training_runs`)."""
    evaluate_out, reports_dir, report_dir = Path(evaluate_out), Path(reports_dir), Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    names = list(methods) if methods is not None else order_methods(discover_methods(reports_dir))
    loaded = [load_method(evaluate_out, reports_dir, n) for n in names]
    ok = [m for m in loaded if m["status"] == "ok"]
    unavailable = [m for m in loaded if m["status"] != "ok"]
    warnings: list[str] = []
    written: list[Path] = []

    protocols = {json.dumps(m["protocol"], sort_keys=True) for m in ok if m["protocol"]}
    anyp = next((m["protocol"] for m in loaded if m["protocol"]), {})  # nothing scored: what the others say
    protocol = json.loads(sorted(protocols)[0]) if protocols else anyp
    notes = []
    if len(protocols) > 1:
        notes.append("Warning: methods were scored under different protocols: "
                     + "; ".join(f"{m['method']}: {m['protocol']}" for m in ok))
        warnings.append(notes[-1])
    fps = float(protocol.get("fps", 25))
    sample_rate = int(protocol.get("sample_rate", 16_000))

    # ---- table
    columns = metric_columns(ok)
    header, rows = table_rows(ok, columns)
    ablation_dir = Path(ablation_dir) if ablation_dir is not None else reports_dir.parent / "ablation"
    ablation = ablation_table(ablation_dir)
    written.append(write_csv(report_dir / "table.csv", header, rows))
    (report_dir / "table.md").write_text(markdown(ok, unavailable, columns, protocol, ablation, notes))
    written.append(report_dir / "table.md")
    if ablation:
        written.append(write_csv(report_dir / "ablation.csv", *ablation))

    # ---- plots
    plots: dict[str, Path] = {}
    per_clip: dict[str, dict[str, np.ndarray]] = {}
    clip_order: dict[str, list[str]] = {}
    for m in ok:
        f = m["dir"] / "per_clip.csv"
        if f.is_file():
            clip_order[m["method"]], per_clip[m["method"]] = read_per_clip(f)
        else:
            warnings.append(f"{m['method']}: no {f}")
    p = plot_bars(ok, columns, report_dir / "metrics_bars.png", per_clip)
    if p:
        plots["metrics_bars"] = p
    p = plot_per_clip(per_clip, [m["method"] for m in ok], report_dir / "per_clip_box.png")
    if p:
        plots["per_clip_box"] = p
    traces: dict[str, dict[str, np.ndarray]] = {}
    trace_clips: dict[str, list[str]] = {}
    for m in ok:
        f = m["dir"] / "traces.npz"
        if not f.is_file():
            warnings.append(f"{m['method']}: no {f}")
            continue
        with np.load(f) as z:
            traces[m["method"]] = {k: z[k] for k in z.files}
        trace_clips[m["method"]] = [k.rsplit("/", 1)[0] for k in traces[m["method"]] if k.endswith("/mouth_gen")]
    if traces:
        first = next(iter(trace_clips.values()))
        common = [c for c in first if all(c in set(v) for v in trace_clips.values())
                  and all(f"{c}/{k}" in t for t in traces.values() for k in ("mouth_gen", "mouth_gt", "envelope"))]
        if common:
            plots["traces"] = plot_traces(traces, [m["method"] for m in ok], common[0], fps, report_dir / "traces.png")
        else:
            warnings.append("traces: no clip is present in every method's traces.npz")
    written += list(plots.values())

    # ---- side-by-side videos
    video_methods, clip_sets = [], []
    for m in ok:
        clips = {p.stem for p in (m["dir"] / "eval").glob("*.mp4") if not p.name.startswith(".")}
        if clips:
            video_methods.append(m["method"])
            clip_sets.append(clips)
        else:
            warnings.append(f"{m['method']}: no eval videos in {m['dir'] / 'eval'}; left out of the side-by-side videos")
    sbs: dict[str, Path] = {}
    sbs_frames: dict[str, int] = {}
    if video_methods and videos > 0:
        common = set.intersection(*clip_sets)
        order = next((clip_order[n] for n in video_methods if n in clip_order), [])
        clips = [c for c in order if c in common] + sorted(common - set(order))
        if not clips:
            warnings.append("side-by-side: no clip has an eval video for every method")
        for clip in clips[:videos]:
            paths = [evaluate_out / n / "eval" / f"{clip}.mp4" for n in video_methods]
            audio_from = (evaluate_out / "ground_truth" / "eval" / f"{clip}.mp4" if "ground_truth" in video_methods
                          else paths[0])
            try:
                out, n = side_by_side(paths, video_methods, report_dir / SIDE_BY_SIDE / f"{clip}.mp4", fps,
                                      sample_rate, audio_from)
            except (media.MediaError, ValueError, OSError) as e:
                warnings.append(f"side-by-side {clip}: {e}")
                continue
            sbs[clip], sbs_frames[clip] = out, n
    for old in (report_dir / SIDE_BY_SIDE).glob("*.mp4"):  # from an earlier report: would pass for this one's
        if old not in sbs.values():
            old.unlink()
    written += list(sbs.values())

    # ---- wandb
    wb = {"mode": tracking.mode(), "run_dir": None}
    if wandb_project:
        config = {"protocol": protocol, "methods": [m["method"] for m in ok],
                  "unavailable": {m["method"]: m["reason"] for m in unavailable},
                  "training_runs": tracking.training_runs(training_runs_dir) if training_runs_dir else {}}
        try:
            wb = _log_wandb(wandb_project, report_dir, header, rows, plots, sbs, ablation, config)
        except Exception as e:  # the report files are written; a wandb failure is reported, not fatal
            wb = {**wb, "error": f"{type(e).__name__}: {e}"}
            warnings.append(f"wandb: {wb['error']}")
    else:
        wb["mode"] = "off (no project)"

    summary = {
        "methods": {"ok": [m["method"] for m in ok],
                    "unavailable": {m["method"]: m["reason"] for m in unavailable}},
        "protocol": protocol,
        "columns": columns,
        "videos": {c: {"file": str(p.relative_to(report_dir)), "frames": sbs_frames[c], "panels": video_methods}
                   for c, p in sbs.items()},
        "files": [str(p.relative_to(report_dir)) for p in written] + ["summary.json"],
        "wandb": wb,
        "warnings": warnings,
    }
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
