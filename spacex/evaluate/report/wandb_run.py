"""The report's wandb run: the table, the ablation table, plots, videos and the provenance (spacex.tracking)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from spacex import tracking
from spacex.evaluate.report.inputs import _float


def log_run(project: str, report_dir: Path, header: list[str], rows: list[list[str]], plots: dict[str, Path],
               videos: dict[str, Path], ablation, config: dict) -> dict:
    mode = tracking.mode()

    def cell(v: str, col: str):
        if col in ("method",):
            return v
        f = _float(v)
        if math.isnan(f):
            return None
        return v if math.isinf(f) else f  # "inf" stays a string (JSON has no infinity)

    run = tracking.init(project, "report", "report", config, report_dir, job_type="report")
    if run is None:  # disabled, or wandb not installed
        return {"mode": mode if mode == "disabled" else f"{mode} (wandb not installed)", "run_dir": None}
    import wandb

    try:
        data = [[cell(v, c) for v, c in zip(r, header)] for r in rows]
        logged = {"comparison": wandb.Table(columns=header, data=data, allow_mixed_types=True)}
        if ablation:
            ah, arows = ablation
            logged["ablation"] = wandb.Table(columns=ah, data=[r[:3] + [cell(v, c) for v, c in zip(r[3:], ah[3:])]
                                                                for r in arows], allow_mixed_types=True)
        scorecard = report_dir / "claims.json"
        if scorecard.is_file():  # the scorecard, as written by claims.write
            cols = ["claim", "comparison", "metric", "effect", "interval", "n", "seeds", "verdict", "reason"]
            logged["claims"] = wandb.Table(columns=cols, allow_mixed_types=True, data=[
                [str(r.get(c)) if c == "interval" else r.get(c) for c in cols] for r in json.loads(scorecard.read_text())])
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
