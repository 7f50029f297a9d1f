"""Experiment tracking (Weights & Biases, offline by default): one project, runs that say what made them.

Every wandb run the kit starts (the training stages, the ablations, the report) goes to one project,
`Config.wandb.project` (params.yaml `wandb.project`, default "spacex-kit"), and carries in its config, under
`provenance`:
    git_commit, git_dirty            the kit's commit and whether tracked files differed from it
    dvc_stage                        the DVC stage that ran it (DVC sets DVC_STAGE; else the caller's name)
    dvc_lock_sha256                  SHA-256 of dvc.lock as it was when the run started
    dvc_deps                         {path: md5} of the stage's inputs that other stages produced, from dvc.lock
                                     (the exact data the run read: e.g. build/preprocess for a training stage)
Training runs also write `wandb_run.json` in their run folder (id, project, name, folder), so the report run can
name the training runs of the checkpoints it evaluated (`training_runs` in its config).

WANDB_MODE selects the mode (offline unless set; `disabled` turns wandb off, as the tests do).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import yaml

from spacex import checkpoint, files

RUN_FILE = "wandb_run.json"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def mode() -> str:
    return os.environ.get("WANDB_MODE", "offline")


def dvc_provenance(stage: str, root: str | Path | None = None) -> dict:
    """What dvc.lock says about a stage's inputs: the file's hash and the md5 of each input another stage wrote."""
    root = Path(root) if root else _repo_root()
    lock_path, yaml_path = root / "dvc.lock", root / "dvc.yaml"
    if not lock_path.exists() or not yaml_path.exists():
        return {"dvc_lock_sha256": None, "dvc_deps": {}}
    raw = lock_path.read_bytes()
    lock = yaml.safe_load(raw) or {}
    outs = {o["path"]: o.get("md5") for s in lock.get("stages", {}).values() for o in s.get("outs", [])}
    spec = (yaml.safe_load(yaml_path.read_text()) or {}).get("stages", {}).get(stage.split("@")[0], {})
    deps = spec.get("do", spec).get("deps", [])  # a foreach stage keeps its definition under `do`
    return {"dvc_lock_sha256": hashlib.sha256(raw).hexdigest(),
            "dvc_deps": {d: outs[d] for d in deps if isinstance(d, str) and d in outs}}


def provenance(stage: str) -> dict:
    """The run's code and data: git commit and dirty flag, DVC stage, dvc.lock hash, input hashes."""
    commit = checkpoint.git_commit(_repo_root(), short=False)
    stage = os.environ.get("DVC_STAGE") or stage
    return {"git_commit": commit.removesuffix("-dirty") if commit else None,
            "git_dirty": bool(commit and commit.endswith("-dirty")), "dvc_stage": stage, **dvc_provenance(stage)}


def init(project: str, name: str, stage: str, config: dict, folder: Path, **kw):
    """Start a wandb run whose config holds `config` plus `provenance`; None when WANDB_MODE is disabled."""
    if mode() == "disabled":
        return None
    try:
        import wandb
    except ImportError:  # the library runs without the [pipeline] extra; say once why there is no run
        warnings.warn("wandb is not installed (pip install 'spacex-kit[pipeline]'): no wandb run; set "
                      "WANDB_MODE=disabled to silence this", stacklevel=2)
        return None

    return wandb.init(project=project, name=name, dir=str(folder), mode=mode(), reinit="finish_previous",
                      config={**config, "provenance": provenance(stage)}, **kw)


def record_run(run, folder: Path) -> Path | None:
    """folder/wandb_run.json: how to find this run again (the report links training runs through it)."""
    if run is None:
        return None
    return files.write_json(folder / RUN_FILE, {"id": run.id, "project": run.project, "name": run.name,
                                                "mode": mode(), "dir": str(Path(run.dir).parent)})


def training_runs(runs_dir: str | Path) -> dict[str, dict]:
    """{stage: wandb_run.json} for each run folder under `runs_dir` that recorded one."""
    out = {}
    for p in sorted(Path(runs_dir).glob(f"*/{RUN_FILE}")):
        try:
            out[p.parent.name] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return out


def offline_config(run_dir: str | Path) -> dict:
    """The config of an offline run, read from its run-*.wandb file (offline wandb writes no config.yaml until
    `wandb sync`). The file is a LevelDB-style log: 32 KiB blocks of records [crc32c u32, length u16, type u8]
    (1 full, 2 first, 3 middle, 4 last) after a 7-byte header; each full record is a wandb protobuf Record."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = Path(run_dir).glob("run-*.wandb")
    data, block, pos, buf, config = path.read_bytes(), 32768, 7, b"", {}
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a record header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind not in (1, 4):
            continue
        rec = pb.Record()
        rec.ParseFromString(buf)
        which = rec.WhichOneof("record_type")
        items = rec.run.config.update if which == "run" else rec.config.update if which == "config" else []
        config.update({it.key: json.loads(it.value_json) for it in items})
    config.pop("_wandb", None)
    return config
