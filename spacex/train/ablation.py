"""The paper's ablations, trained and scored like the full model (`ablation` stage, one run per variant).

    spacex ablation l2l_landmarks      # trains Landmarks2Latents without audio

A variant is a set of config overrides of one training stage (params.yaml `ablation.variants`), e.g.
`l2l_landmarks: {l2l.model.inputs: landmarks}` or `s2l_raw: {s2l.space: raw}`. It is trained with the same
steps and seed as the full model into `<ablation.out>/<variant>` and scored by that stage's own validation;
`<ablation.reports>/<variant>.json` holds its metrics next to the full model's (`reports/train_<stage>/`), so
the report compares like with like. The same variants run as DVC experiments over the whole pipeline with
`dvc exp run -S 'profiles.smoke.l2l.model.inputs=landmarks'`.
"""
from __future__ import annotations

import json
from pathlib import Path

from spacex import config, files
from spacex.train.stages import run as train_stage
from spacex.config import Config
from spacex.errors import ConfigError

ABLATABLE = ("s2l", "l2l", "posegen")  # stages a variant may override (face-vid2vid is pretrained and frozen)


def run_variant(cfg: Config, variant: str) -> dict:
    a = cfg.ablation
    if variant not in a.variants:
        raise ConfigError(f"unknown ablation variant {variant!r} (params.yaml ablation.variants: {sorted(a.variants)})")
    overrides = dict(a.variants[variant])
    stages = {k.split(".")[0] for k in overrides}
    if len(stages) != 1 or not stages <= set(ABLATABLE):
        raise ConfigError(f"variant {variant!r} must override one of {sorted(ABLATABLE)}, got {sorted(stages)}")
    stage = stages.pop()
    out = Path(a.out) / variant
    variant_cfg = config.with_overrides(cfg, {**overrides, f"{stage}.out": str(out)})
    metrics = dict(train_stage(stage, variant_cfg))
    for k in [k for k in metrics if not k.startswith("baseline_")]:  # model / trivial-baseline ratios, as the stage reports them for the full model
        clean = k.removesuffix("_s2l")  # the same metric on S2L's inputs (L2L's kp_l1_s2l) has the same baseline
        base = [b for b in metrics if b.startswith("baseline_") and b.endswith(clean)]
        if base and metrics[base[0]]:
            metrics[f"{k}_vs_baseline"] = round(metrics[k] / metrics[base[0]], 4)
    full_path = Path("reports") / f"train_{stage}" / "metrics.json"
    full = json.loads(full_path.read_text()) if full_path.exists() else None
    result = {"variant": variant, "stage": stage, "overrides": overrides, "metrics": metrics, "full": full}
    rep = Path(a.reports)
    rep.mkdir(parents=True, exist_ok=True)
    files.write_metrics(rep / f"{variant}.json", result)  # metrics and full; variant, stage, overrides: .info.json
    return result

