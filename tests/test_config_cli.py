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


def test_a_model_key_is_checked_against_the_networks_own_args(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("profile: x\nprofiles:\n  x:\n    s2l:\n      model: {hiden: 64}\n")
    with pytest.raises(KeyError, match=r"profiles\.x\.s2l\.model: unknown keys \['hiden'\]"):
        config.load(params=p)
    # a field that training fills from the store is not a config key: it cannot silently disagree with the data
    p.write_text("profile: x\nprofiles:\n  x:\n    l2l:\n      model: {n_mfcc: 13}\n")
    with pytest.raises(KeyError, match=r"profiles\.x\.l2l\.model\.n_mfcc: not a config key.*MFCC count"):
        config.load(params=p)
    p.write_text("profile: x\nprofiles:\n  x:\n    fv2v:\n      model: {num_kp: 15}\n")
    assert config.load(params=p).fv2v.model.num_kp == 15 and config.load(params=p).fv2v.model.base == 32


def test_a_key_that_dvc_tracks_is_required_in_every_profile(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages:\n  a:\n    cmd: x\n    params:\n      - profile\n"
                                       "      - profiles.${profile}.fv2v.keypoints\n      - profiles.${profile}.s2l\n")
    p = tmp_path / "params.yaml"
    p.write_text("profile: x\nprofiles:\n  x:\n    s2l: {}\n    fv2v: {out: o}\n")
    with pytest.raises(KeyError, match=r"profiles\.x\.fv2v\.keypoints: missing: dvc\.yaml tracks"):
        config.load(params=p)
    p.write_text("profile: x\nprofiles:\n  x:\n    fv2v: {keypoints: k}\n")
    with pytest.raises(KeyError, match=r"profiles\.x\.s2l: missing"):
        config.load(params=p)
    p.write_text("profile: x\nprofiles:\n  x:\n    s2l: {}\n    fv2v: {keypoints: k}\n")
    assert config.load(params=p).fv2v.keypoints == "k"
    # the real dvc.yaml tracks these, and every committed profile states them (load would refuse otherwise)
    tracked = config.dvc_tracked(config.find_params().parent / "dvc.yaml")
    assert {"corpus.root", "fv2v.keypoints", "s2l", "evaluate"} <= set(tracked)


def test_profiles_hold_only_what_differs_from_the_typed_defaults():
    """One truth: a profile value equal to its default is a second copy of it that can drift (keys dvc.yaml
    tracks excepted: DVC needs them stated)."""
    from spacex.evaluate.score import resolved

    defaults = resolved(config.Config())
    tracked = set(config.dvc_tracked(config.find_params().parent / "dvc.yaml"))
    restated = []

    def walk(raw, default, path):
        for k, v in raw.items():
            key = f"{path}{k}"
            if isinstance(v, dict) and v and isinstance(default.get(k), dict) and key not in ("ablation.variants",):
                walk(v, default[k], key + ".")
            elif v != {} and key not in tracked and default.get(k) == v:
                restated.append(key)

    raw = yaml.safe_load(config.find_params().read_text())
    for name, prof in raw["profiles"].items():
        walk(prof, defaults, "")
        assert not restated, f"profiles.{name} restates defaults: {restated}"
        assert resolved(config.load(name))["profile"] == name


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
