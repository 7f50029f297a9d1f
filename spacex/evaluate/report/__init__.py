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
    claims.md, claims.json       the scorecard: one row per claim of the paper, verdict computed (claims.py)
    summary.json                 methods ok / unavailable, files written, the wandb run directory
    wandb/                       one run (job_type "report"), mode from WANDB_MODE (default offline)

Missing inputs never stop the report: a method without per_clip.csv, traces or eval videos is left out of that
plot or of the videos, and the reason goes to summary["warnings"].
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spacex import files, media, tracking
from spacex.evaluate.report import claims
from spacex.evaluate.report.inputs import METRICS, PREFERRED, REFERENCES, arrow, bootstrap_interval, fmt
from spacex.evaluate.report.inputs import discover_methods, load_method, metric_columns, order_methods, read_per_clip
from spacex.evaluate.report.plots import plot_bars, plot_per_clip, plot_traces
from spacex.evaluate.report.table import ablation_table, markdown, table_rows, write_csv
from spacex.evaluate.report.videos import SIDE_BY_SIDE, side_by_side
from spacex.evaluate.report.wandb_run import log_run

__all__ = ["build_report", "METRICS", "PREFERRED", "REFERENCES", "arrow", "bootstrap_interval", "fmt", "markdown",
           "ablation_table", "load_method", "discover_methods", "order_methods"]


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
    # ---- the scorecard: one row per claim of the paper, verdicts computed from the numbers
    animate_summary = reports_dir.parent / "animate" / "summary.json"
    try:
        animate = files.read_metrics(animate_summary)  # with summary.info.json: the per-clip lists
    except (OSError, json.JSONDecodeError):
        animate = None
    seeds_file = reports_dir.parent / "seeds" / "summary.json"  # the training-seed sweep (tools/seeds.py)
    seeds = json.loads(seeds_file.read_text()) if seeds_file.is_file() else None
    written += claims.write(claims.scorecard(ok, per_clip, clip_order, ablation, animate, seeds), report_dir)

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
            wb = log_run(wandb_project, report_dir, header, rows, plots, sbs, ablation, config)
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
