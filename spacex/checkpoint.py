"""Self-describing checkpoints, written atomically and read without executing pickled code.

A checkpoint is a plain dict of tensors and JSON-like values:
    {"kind": "spacex-checkpoint", "stage": "s2l", "step": 1200, "model_args": {...}, "config": {...},
     "git_commit": "abc123", "features": {...}, "model": state_dict, "optimizer": ..., "scaler": ..., "rng": {...}}
`features` are the store's settings the model was trained on (spacex.preprocess.store.features: landmark backend,
sample rate, MFCC settings, emotion order, fps): inference reads them instead of library defaults.
so a resume (or an inference run) rebuilds the same network from `model_args` alone. Loading uses
`torch.load(weights_only=True)`: a file that carries pickled objects (classes, functions) is refused.

This module sits below both training and inference: `spacex.animate` loads trained networks through
`load_model` here and never imports `spacex.train`. Load failures are told apart, each with its own message:
a missing run folder, a run folder without a checkpoint, a torn (truncated or corrupt) file, a file with
pickled objects, a file that is not a kit checkpoint, and a checkpoint that does not fit the network.
"""
from __future__ import annotations

import pickle
import subprocess
import zipfile
from pathlib import Path

import torch

from spacex.errors import KitError
from spacex.files import atomic_path

KIND = "spacex-checkpoint"


class CheckpointError(KitError, RuntimeError):
    pass


def git_commit(repo: str | Path | None = None, short: bool = True, dirty: bool = True) -> str | None:
    """The commit of a git work tree (default: this kit's), with "-dirty" for uncommitted changes to tracked
    files (when `dirty`); None when the folder is not a git work tree or git is missing."""
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent
    if not cwd.is_dir():
        return None
    try:
        out = subprocess.run(["git", "rev-parse"] + (["--short"] if short else []) + ["HEAD"], capture_output=True,
                             text=True, cwd=cwd, timeout=10)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        changed = dirty and subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                           capture_output=True, text=True, cwd=cwd, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if changed else "")
    except (OSError, subprocess.SubprocessError):
        return None


def save(path: str | Path, payload: dict) -> Path:
    """Write to a temporary name in the same folder, then rename: a kill never leaves a torn file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"kind": KIND, **payload}, tmp)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with weights_only=True; refuse anything else with a message that says what is wrong."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CheckpointError(f"no run folder {path.parent}: train that stage first (dvc repro) or point --runs "
                              "at the folder that holds the run folders")
    if not path.exists():
        raise CheckpointError(f"no checkpoint {path.name} in the run folder {path.parent}: its training has not "
                              "finished a checkpoint yet")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a torn file has no central directory
        raise CheckpointError(f"{path} is torn or not a checkpoint ({path.stat().st_size} bytes that are not a "
                              "complete torch archive): it was cut short or corrupted; retrain or restore it")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refuses classes, functions, arbitrary objects
        raise CheckpointError(
            f"refusing to load {path}: it holds pickled objects, not only tensors and plain values (they are "
            f"not executed; re-save it as a state dict). Detail: {str(e).splitlines()[0]}") from e
    except (RuntimeError, OSError, EOFError, ValueError) as e:  # a damaged member inside a complete archive
        raise CheckpointError(f"{path} is corrupt and does not load ({str(e).splitlines()[0]})") from e
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a spacex checkpoint (no kind={KIND!r})")
    return ckpt


def load_model(path: str | Path, build, map_location="cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild a trained network from its checkpoint alone: `build(**model_args)` + the weights."""
    ckpt = load(path, map_location)
    try:
        model = build(**ckpt["model_args"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path} does not fit {getattr(build, '__name__', build)} "
                              f"({str(e).splitlines()[0]}): is it the checkpoint of another stage?") from e
    return model.eval(), ckpt


def latest(run_dir: str | Path) -> Path | None:
    p = Path(run_dir) / "last.pt"
    return p if p.exists() else None
