"""Self-describing checkpoints, written atomically and read without executing pickled code.

A checkpoint is a plain dict of tensors and JSON-like values:
    {"kind": "spacex-checkpoint", "stage": "s2l", "step": 1200, "model_args": {...}, "config": {...},
     "git_commit": "abc123", "model": state_dict, "optimizer": ..., "scaler": ..., "rng": {...}}
so a resume (or an inference run) rebuilds the same network from `model_args` alone. Loading uses
`torch.load(weights_only=True)`: a file that carries pickled objects (classes, functions) is refused.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import torch

KIND = "spacex-checkpoint"


class CheckpointError(RuntimeError):
    pass


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save(path: str | Path, payload: dict) -> Path:
    """Write to a temporary name in the same folder, then rename: a kill never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    torch.save({"kind": KIND, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with weights_only=True; refuse anything else with a clear error."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError (and others) for disallowed content
        raise CheckpointError(
            f"refusing to load {path}: it holds more than tensors and plain values (pickled objects are not "
            f"executed; re-save it as a state dict). Detail: {str(e).splitlines()[0]}") from e
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a spacex checkpoint (no kind={KIND!r})")
    return ckpt


def latest(run_dir: str | Path) -> Path | None:
    p = Path(run_dir) / "last.pt"
    return p if p.exists() else None
