"""Writing files without losing any: atomic outputs, outputs checked against inputs, one owner per run folder.

- `atomic_path(path)`: write to a hidden partial name beside `path`, renamed to `path` only when the block
  finishes; on any error (or a kill) the final name is never a partial file, and an existing file there is
  kept until the rename replaces it in one step.
- `check_outputs(outputs, inputs)`: before any work starts, refuse an output that is an input (same resolved
  path or the same file through a hard link or symlink), is a folder, or sits under something that is not a
  writable folder.
- `check_output_dir(out, inputs)`: the same for an output folder: not an input folder, not inside one, not
  around one.
- `hold_run_folder(folder)`: an exclusive lock (filelock) so that one process at a time writes a run folder;
  a second one stops with a message naming the holder.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spacex.errors import OutputError, RunFolderBusy

PathLike = str | os.PathLike


def partial_path(path: PathLike) -> Path:
    """The hidden name a file is written under until complete: dir/.NAME.partial.EXT (the extension is kept
    for libraries that pick a format from it, e.g. np.savez, PyAV)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial{path.suffix}")


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to `path` when the block succeeds, delete it otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: PathLike, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: PathLike, obj, **kw) -> Path:
    return write_text(path, json.dumps(obj, **{"indent": 1, "default": str, **kw}))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(outputs: Iterable[PathLike], inputs: Iterable[PathLike | None], command: str = "") -> None:
    """Raise OutputError when an output would replace an input or cannot be written (checked before any work)."""
    outputs = [Path(o) for o in outputs]
    inputs = [Path(i) for i in inputs if i is not None and str(i)]
    prefix = f"{command}: " if command else ""
    for i, out in enumerate(outputs):
        for src in inputs:
            if _same_file(out, src):
                raise OutputError(f"{prefix}output {out} is the input {src}; choose another output path "
                                  "(an output never replaces an input)")
        for other in outputs[:i]:
            if _same_file(out, other):
                raise OutputError(f"{prefix}two outputs go to the same file {out}")
        if out.is_dir():
            raise OutputError(f"{prefix}output {out} is a folder; give a file name")
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise OutputError(f"{prefix}cannot write {out}: {parent} is not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"{prefix}cannot write {out}: {parent} is not writable")


def check_output_dir(out: PathLike, inputs: Iterable[PathLike | None], command: str = "") -> None:
    """Raise OutputError when an output folder is, contains or lies inside an input, or is a file."""
    out = Path(out).resolve()
    prefix = f"{command}: " if command else ""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{prefix}output folder {out} is a file")
    for src in inputs:
        if src is None or not str(src):
            continue
        src = Path(src).resolve()
        if out == src or src in out.parents or out in src.parents:
            raise OutputError(f"{prefix}output folder {out} overlaps the input {src}; choose a folder outside it "
                              "(an output never replaces an input)")


@contextmanager
def hold_run_folder(folder: PathLike) -> Iterator[None]:
    """Hold `folder` for this process: a second holder (another trainer) gets RunFolderBusy naming the first."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock, owner = FileLock(folder / ".lock"), folder / ".lock.owner.json"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            who = json.loads(owner.read_text())
            holder = f"pid {who['pid']} on {who['host']} since {who['since']}"
        except (OSError, ValueError, KeyError):
            holder = "another process"
        raise RunFolderBusy(f"run folder {folder} is in use by {holder}; wait for it to finish or use another "
                            "output folder") from None
    try:
        write_json(owner, {"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


# ---------------------------------------------------------------------------------------------- metrics files
INFO_SUFFIX = ".info.json"


def _split_numbers(obj: dict) -> tuple[dict, dict]:
    """(numbers, the rest) of a nested dict: ints and floats (inf included) in the first, strings, lists, None
    and booleans in the second; nested dicts split alike, empty halves dropped."""
    nums, rest = {}, {}
    for k, v in obj.items():
        if isinstance(v, dict):
            n, r = _split_numbers(v)
            if n:
                nums[k] = n
            if r:
                rest[k] = r
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:  # NaN is not a metric
            nums[k] = v
        else:
            rest[k] = v
    return nums, rest


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def info_path(path: PathLike) -> Path:
    """NAME.info.json beside NAME.json: the non-numeric part of a metrics file."""
    path = Path(path)
    return path.with_name(path.stem + INFO_SUFFIX)


def write_metrics(path: PathLike, summary: dict, settings: tuple[str, ...] = ()) -> Path:
    """A stage summary as a DVC metrics file of numbers only (`dvc metrics show/diff` stay one screen) and, beside
    it, NAME.info.json with everything else (status, reasons, unavailable metrics, labels, file names, and the
    top-level keys named in `settings`: numbers that describe the run rather than measure it)."""
    nums, rest = _split_numbers({k: v for k, v in summary.items() if k not in settings})
    rest.update({k: summary[k] for k in settings if k in summary})
    write_text(info_path(path), json.dumps(rest, indent=1, default=str) + "\n")
    return write_text(path, json.dumps(nums, indent=1) + "\n")


def read_metrics(path: PathLike) -> dict:
    """The summary `write_metrics` split, whole again (a file without its .info.json reads as it is)."""
    path = Path(path)
    data = json.loads(path.read_text())
    info = info_path(path)
    return _merge(data, json.loads(info.read_text())) if info.is_file() else data


def is_info(path: PathLike) -> bool:
    return Path(path).name.endswith(INFO_SUFFIX)
