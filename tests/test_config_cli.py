import subprocess
import sys

import pytest
import yaml

from spacex import config
from spacex.cli import main


def test_every_profile_builds_a_typed_config():
    raw = yaml.safe_load(config.find_params().read_text())
    assert raw["profile"] in raw["profiles"]
    for name in raw["profiles"]:
        cfg = config.load(name)
        assert cfg.profile == name and cfg.corpus.synth.sample_rate % cfg.corpus.synth.fps == 0


def test_unknown_key_is_an_error(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("profile: x\nprofiles:\n  x:\n    corpus:\n      synth:\n        resolutoin: 64\n")
    with pytest.raises(KeyError, match="resolutoin"):
        config.load(params=p)
    with pytest.raises(KeyError, match="not in"):
        config.load("nope", params=p)


def test_overrides():
    assert config.load(overrides={"corpus.synth.seed": 11}).corpus.synth.seed == 11


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "spacex.cli", "corpus", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for sub in ("synth", "ingest", "check"):
        assert sub in out.stdout


def test_cli_check_passes_a_good_corpus_and_fails_a_broken_one(tiny_corpus, tmp_path, capsys):
    assert main(["corpus", "check", str(tiny_corpus)]) == 0
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_corpus, broken)
    victim = sorted((broken / "clips").glob("*.mp4"))[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    assert main(["corpus", "check", str(broken)]) == 1
    assert "BAD" in capsys.readouterr().out


def test_weights_list_names_every_file_its_place_and_checksum(tmp_path, monkeypatch, capsys):
    from spacex import weights
    from spacex.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for w in weights.REGISTRY.values():
        assert w.filename in out and w.sha256_prefix in out and w.url in out
    assert {"alexnet", "inception_fid", "syncnet_v2", "vgg19", "fan3d"} <= set(weights.REGISTRY)
    assert out.count("missing") == len(weights.REGISTRY) and str(tmp_path) in out
