"""An ablation variant is the full stage with its overrides, written where the report reads it."""
import json

import pytest

from spacex import files

from spacex import config
from spacex.train import ablation


def test_variant_trains_the_stage_with_its_overrides(train_store, tmp_path, monkeypatch):
    cfg = config.load("smoke", overrides={
        "preprocess.out": str(train_store), "pack.out": str(train_store / "packed"), "s2l.train.steps": 20, "s2l.train.eval_every": 20,
        "s2l.train.ckpt_every": 20, "s2l.train.log_every": 20,
        "ablation.out": str(tmp_path / "ab"), "ablation.reports": str(tmp_path / "rep"),
        "ablation.variants": {"s2l_raw": {"s2l.space": "raw"}, "bad": {"s2l.space": "raw", "l2l.window": 8}}})
    monkeypatch.chdir(tmp_path)  # the full model's metrics are read from reports/train_<stage>/ here
    (tmp_path / "reports" / "train_s2l").mkdir(parents=True)
    (tmp_path / "reports" / "train_s2l" / "metrics.json").write_text(json.dumps({"mouth_lmd": 0.02}))
    result = ablation.run_variant(cfg, "s2l_raw")
    saved = files.read_metrics(tmp_path / "rep" / "s2l_raw.json")
    assert "stage" not in json.loads((tmp_path / "rep" / "s2l_raw.json").read_text())  # numbers only: DVC metric
    assert saved["stage"] == "s2l" and saved["overrides"] == {"s2l.space": "raw"}
    assert saved["full"] == {"mouth_lmd": 0.02} and "mouth_lmd" in saved["metrics"]
    m = saved["metrics"]
    assert m["mouth_lmd_vs_baseline"] == pytest.approx(m["mouth_lmd"] / m["baseline_mouth_lmd"], abs=1e-4)
    run_cfg = json.loads((tmp_path / "ab" / "s2l_raw" / "config.json").read_text())
    assert run_cfg["s2l"]["space"] == "raw" and run_cfg["s2l"]["out"].endswith("s2l_raw")  # trained in image space
    assert result["metrics"] == saved["metrics"]
    with pytest.raises(ValueError, match="one of"):
        ablation.run_variant(cfg, "bad")
    with pytest.raises(KeyError, match="unknown ablation variant"):
        ablation.run_variant(cfg, "nope")
