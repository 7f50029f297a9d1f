"""wandb runs that say what made them: one project, commit + dirty flag + dvc.lock hash in every run's config,
and the report run naming the training runs it used. Real wandb, offline mode."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from spacex import config, tracking
from spacex.config import TrainConfig
from spacex.train import trainer


class ToyTask(trainer.Task):
    """y = 2x: the smallest task the training loop accepts."""

    name = "toy"

    def model_args(self) -> dict:
        return {"n": 1}

    def build_model(self, n: int) -> torch.nn.Module:
        return torch.nn.Linear(n, n)

    def plan(self, step, rank, world, generator):
        return list(torch.randn(8, 1, generator=generator)[rank::world])

    def item(self, x):
        return {"x": x, "y": 2 * x}

    def loss(self, model, batch):
        loss = torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])
        return loss, {}

    def val_items(self):
        return 1

    def validate_item(self, model, device, k):
        return {"weight": float(model.weight)}

    def summarize(self, sums):
        return sums


def test_every_run_names_its_commit_dirty_flag_and_dvc_lock(tmp_path, monkeypatch):
    from test_report import _isolated_wandb

    _isolated_wandb(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("DVC_STAGE", "train_s2l")  # as `dvc repro` sets it: the stage's inputs come from dvc.lock
    out = tmp_path / "toy"
    cfg = TrainConfig(steps=4, log_every=2, eval_every=4, ckpt_every=4, device="cpu")
    trainer.train(ToyTask(), cfg, out, {"profile": "test", "toy": {"steps": 4}}, project="spacex-kit-test")
    (run_dir,) = out.glob("wandb/offline-run-*")
    got = tracking.offline_config(run_dir)
    prov = got["provenance"]
    root = Path(__file__).resolve().parents[1]
    commit = tracking.checkpoint.git_commit(root, short=False)
    assert prov["git_commit"] == commit.removesuffix("-dirty") and len(prov["git_commit"]) == 40
    assert prov["git_dirty"] is commit.endswith("-dirty")
    assert prov["dvc_stage"] == "train_s2l" and len(prov["dvc_lock_sha256"]) == 64
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    outs = {o["path"]: o["md5"] for st in lock["stages"].values() for o in st.get("outs", [])}
    data = {d["path"] for d in lock["stages"]["train_s2l"]["deps"] if d["path"] in outs}
    assert data == {"build/pack", "build/emotion"}  # the pack, and the classifier's labels for unlabeled clips
    assert prov["dvc_deps"] == {p: outs[p] for p in data}  # the training data this stage read, as dvc.lock has it
    assert got["toy"] == {"steps": 4} and got["profile"] == "test"  # the resolved stage config
    run = json.loads((out / tracking.RUN_FILE).read_text())
    assert run["project"] == "spacex-kit-test" and run["mode"] == "offline" and Path(run["dir"]).is_dir()
    assert tracking.training_runs(tmp_path) == {"toy": run}  # what the report run links


def test_one_project_for_every_run():
    """Training runs and the report take the project from one config key, in every profile."""
    for name in ("smoke", "paper"):
        assert config.load(name).wandb.project == "spacex-kit"
    src = {p: p.read_text() for p in (Path(__file__).resolve().parents[1] / "spacex").rglob("*.py")}
    starts = [p.name for p, s in src.items() if "wandb.init(" in s]
    assert starts == ["tracking.py"], f"wandb runs started outside spacex.tracking: {starts}"


def test_disabled_mode_starts_no_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.init("p", "n", "s", {}, tmp_path) is None and tracking.record_run(None, tmp_path) is None
    assert not list(tmp_path.iterdir())
