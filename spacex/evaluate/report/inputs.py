"""What the report reads: each method's metrics (spacex.files.read_metrics of score.py's files), per-clip
values, the row order, and the statistics over clips."""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spacex import files
from spacex.evaluate.metrics import registry

# Canonical column order; names score.py may add later are appended after these, sorted.
METRICS, HIGHER, LOWER = registry.TABLE, registry.HIGHER, registry.LOWER  # spacex.evaluate.metrics.registry
REFERENCES = ("renderer", "ground_truth", "static")  # reference rows: not candidates for "best"
PREFERRED = ("spacex",) + REFERENCES  # default row order: these first, then the rest alphabetically


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


def metrics_in(folder: Path) -> Iterator[tuple[Path, dict]]:
    """(path, whole summary) for each readable metrics file in a folder, sorted; .info.json halves and unreadable
    files are passed over."""
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if files.is_info(p):
            continue
        try:
            yield p, files.read_metrics(p)
        except (OSError, json.JSONDecodeError):
            continue


def discover_methods(reports_dir: Path) -> list[str]:
    """Method names: every <reports_dir>/*.json that looks like a score.py report."""
    names = []
    for p, data in metrics_in(reports_dir):
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
