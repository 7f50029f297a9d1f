"""The training-seed sweep behind the scorecard's ablation rows (the documented second command: `make seeds`).

Each extra seed is a DVC experiment of the pipeline's training stages with the training seeds of
Speech2Landmarks and Landmarks2Latents set to it (`dvc exp run --temp -S ++profiles.<profile>.s2l.train.seed=K
-S ++profiles.<profile>.l2l.train.seed=K ablation`: train_s2l, train_l2l and every ablation variant, on the same
corpus, store and pulled renderer). The validation metrics of every seed (seed 0: the workspace's reports/, the
pipeline's own run) are collected from `dvc exp show --json` into `reports/seeds/summary.json`, which the report
stage reads: the scorecard's ablation rows then show the mean effect over seeds, its range, and hold only when
every seed agrees.

    .venv/bin/python tools/seeds.py [--seeds 1 2]     # about 4 min per seed on 2 cores

Run it after `make repro` and commit reports/seeds/ with the rest of reports/, then `dvc repro report`. The
summary records the commit it ran on; the report says which.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

from spacex import files

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "reports" / "seeds" / "summary.json"
# the validation metrics the scorecard's ablation rows read, per (stage, variant): the DVC metrics file
METRICS = {("s2l", "full"): "reports/train_s2l/metrics.json", ("l2l", "full"): "reports/train_l2l/metrics.json",
           ("s2l", "s2l_raw"): "reports/ablation/s2l_raw.json", ("l2l", "l2l_audio"): "reports/ablation/l2l_audio.json",
           ("l2l", "l2l_landmarks"): "reports/ablation/l2l_landmarks.json"}


def dvc(*args: str) -> str:
    run = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=REPO, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"dvc {' '.join(args)} failed:\n{run.stderr[-2000:]}")
    return run.stdout


def exp_metrics(name: str) -> dict[str, dict] | None:
    """{metrics file: its numbers} of experiment `name`, from `dvc exp show --json`; None if there is none."""
    for commit in json.loads(dvc("exp", "show", "--json")):
        for exp in commit.get("experiments") or []:
            for rev in exp.get("revs") or []:
                if rev.get("name") == name:
                    files = (rev.get("data") or {}).get("metrics") or {}
                    return {path: m.get("data", {}) for path, m in files.items()}
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", nargs="*", type=int, default=[1, 2])
    args = ap.parse_args()
    profile = yaml.safe_load((REPO / "params.yaml").read_text())["profile"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout.strip()
    per_seed = {0: {path: json.loads((REPO / path).read_text()) for path in METRICS.values()}}
    for k in args.seeds:
        name = f"seed{k}-{commit}"
        if exp_metrics(name) is None:  # an experiment of this commit and seed is kept and reused
            print(f"seed {k}: dvc exp run --temp -n {name} ...", flush=True)
            dvc("exp", "run", "--temp", "-n", name, "-S", f"++profiles.{profile}.s2l.train.seed={k}",
                "-S", f"++profiles.{profile}.l2l.train.seed={k}", "ablation")
        per_seed[k] = exp_metrics(name)
        if per_seed[k] is None:
            sys.exit(f"experiment {name} ran but `dvc exp show` does not list it")
    def numbers(k: int, path: str) -> dict:  # an ablation file holds its variant's metrics under "metrics"
        data = per_seed[k].get(path, {})
        return data.get("metrics", data)

    values = {}
    for (stage, variant), path in METRICS.items():
        for key in numbers(0, path):
            vals = [numbers(k, path).get(key) for k in sorted(per_seed)]
            if all(isinstance(v, (int, float)) for v in vals):
                values[f"{stage}/{variant}/{key}"] = vals
    summary = {"commit": commit, "profile": profile, "seeds": sorted(per_seed),
               "varied": [f"profiles.{profile}.s2l.train.seed", f"profiles.{profile}.l2l.train.seed"],
               "values": values}
    files.write_json(OUT, summary)
    print(f"{len(values)} metrics over seeds {summary['seeds']} -> {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
