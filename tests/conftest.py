import sys
from dataclasses import replace
from pathlib import Path

import pytest

from spacex.config import SynthConfig

sys.path.insert(0, str(Path(__file__).parent))  # tests/fabricate.py

TINY = SynthConfig(seed=7, resolution=64, identities=3, test_identities=1, clips_train=4, clips_val=1,
                   clips_test=1, workers=2)


@pytest.fixture(scope="session", autouse=True)
def _no_wandb_runs():
    """No wandb run unless a test asks for one (monkeypatch.setenv("WANDB_MODE", "offline"))."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "disabled")
        yield


@pytest.fixture(scope="session")
def tiny_cfg() -> SynthConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A small SynthTalk corpus generated on the fly (6 clips at 64 px)."""
    from spacex.corpus.synth.generate import generate

    root = tmp_path_factory.mktemp("synthtalk")
    generate(TINY, root, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_corpus_again(tmp_path_factory) -> Path:
    """The same settings generated again, with another worker count."""
    from spacex.corpus.synth.generate import generate

    root = tmp_path_factory.mktemp("synthtalk_again")
    generate(replace(TINY, workers=1), root, progress=False)
    return root


SMALL = SynthConfig(seed=3, resolution=128, identities=2, test_identities=1, clips_train=3, clips_val=1,
                    clips_test=1, workers=2)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """5 SynthTalk clips (3 train, 1 val, 1 test) at 128 px: faces large enough for the real detectors."""
    from spacex.corpus.synth.generate import generate

    root = tmp_path_factory.mktemp("synthtalk128")
    generate(SMALL, root, progress=False)
    return root


def preprocess_config(root: Path, out: Path, **kw):
    from spacex import config

    overrides = {"corpus.root": str(root), "preprocess.out": str(out), "preprocess.workers": 1}
    overrides.update({f"preprocess.{k}": v for k, v in kw.items()})
    return config.load("smoke", overrides=overrides)


@pytest.fixture(scope="session")
def small_store(small_corpus, tmp_path_factory) -> tuple[Path, dict]:
    """The small corpus preprocessed with the dlib backend and packed (`<store>/packed`, frames at 128 and 32 px);
    returns (store, summary)."""
    from spacex.preprocess import pack, run

    out = tmp_path_factory.mktemp("store")
    summary = run.run(preprocess_config(small_corpus, out), progress=False)
    pack.write(out, {str(small_corpus): 1.0}, out / "packed", [32, 128])
    return out, summary


@pytest.fixture(scope="session")
def train_store(tmp_path_factory) -> Path:
    """A corpus large enough to learn from (16 train, 4 val clips at 128 px), preprocessed with dlib, packed at
    `<store>/packed`."""
    from spacex.corpus.synth.generate import generate
    from spacex.preprocess import pack, run

    root = tmp_path_factory.mktemp("synthtalk_train")
    generate(replace(SMALL, seed=11, identities=3, clips_train=16, clips_val=4, clips_test=0), root, progress=False)
    out = tmp_path_factory.mktemp("train_store")
    run.run(preprocess_config(root, out, workers=2), progress=False)
    pack.write(out, {str(root): 1.0}, out / "packed", [128])
    return out
