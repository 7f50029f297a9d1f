"""The comparison table (markdown and CSV) and the ablation table."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from spacex.evaluate.report.inputs import (HIGHER, LOWER, METRICS, REFERENCES, _csv_value, _float, arrow, fmt,
                                           metrics_in)


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
                  f"({', '.join(REFERENCES[:-1])} and {REFERENCES[-1]} are reference rows; renderer is face-vid2vid "
                  "re-enacting each clip from its own frames, the ceiling for SPACEx). Metrics without an arrow "
                  "(offsets, blink rate and depth, "
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


def ablation_table(ablation_dir: Path) -> tuple[list[str], list[list[str]]] | None:
    """Rows stage, variant, overrides, metrics... from ablation_dir/*.json; each stage's full model first (from
    ablation_dir/../train_<stage>/metrics.json when it exists). None when there is no ablation JSON."""
    runs = [d for _, d in metrics_in(Path(ablation_dir)) if isinstance(d, dict) and isinstance(d.get("metrics"), dict)]
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
