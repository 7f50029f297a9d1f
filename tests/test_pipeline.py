"""The data and pipeline plumbing: a fresh clone gets the default corpus offline; the stage notebook runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env():
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs the git repository")
def test_fresh_clone_pulls_the_default_corpus_offline(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    if not (clone / "data.dvc").exists():
        pytest.skip("data.dvc is not committed yet")
    subprocess.run([str(BIN / "dvc"), "pull", "-q"], cwd=clone, check=True, env=_env())
    manifest = (clone / "data" / "synthtalk" / "manifest.csv").read_text().splitlines()
    info = json.loads((clone / "data" / "synthtalk" / "corpus.json").read_text())
    assert len(manifest) == 1 + info["clips"] and info["clips"] >= 40
    assert len(list((clone / "data" / "synthtalk" / "clips").glob("*.mp4"))) == info["clips"]
    status = subprocess.run([str(BIN / "dvc"), "status", "data.dvc"], cwd=clone, env=_env(),
                            capture_output=True, text=True)
    assert "changed" not in status.stdout  # what was pulled is what data.dvc records
    # The trained smoke renderer comes with it (stage train_fv2v's cached outs), built from the profile's
    # current fv2v section: a stale artifact (other model arguments) would not be skipped by dvc repro anyway,
    # but it must not be what a fresh clone renders with either.
    from spacex import checkpoint, config
    from spacex.models.args import FV2VArgs

    ckpt = checkpoint.load(clone / "build" / "train" / "fv2v" / "last.pt")
    smoke = config.load("smoke", params=clone / "params.yaml").fv2v
    assert ckpt["stage"] == "fv2v" and ckpt["step"] == smoke.train.steps
    assert FV2VArgs(**ckpt["model_args"]) == smoke.model
    assert (clone / "reports" / "executed" / "10_train_fv2v.ipynb").is_file()


def test_corpus_notebook_runs_under_papermill(tiny_corpus, tmp_path):
    out = tmp_path / "report"
    subprocess.run(
        [str(BIN / "papermill"), "-k", "python3", "--cwd", str(REPO), str(REPO / "notebooks" / "00_corpus.ipynb"),
         str(tmp_path / "executed.ipynb"), "-p", "profile", "smoke", "-p", "root", str(tiny_corpus),
         "-p", "out_dir", str(out)],
        check=True, env=_env(), capture_output=True,
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == summary["clips_ok"] == 6
    assert (out / "mouth_energy.png").stat().st_size > 10_000
    assert "mouth_energy_r" in (out / "clips.csv").read_text().splitlines()[0]


def test_committed_notebooks_have_no_outputs():
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), nb.name
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), nb.name
