"""One command per baseline that prepares its environment: `spacex baselines setup NAME [--repo CLONE] [--venv DIR]`.

Each official repository pins a 2019-2021 stack (torch 1.x, numpy 1.17, librosa 0.7, numba 0.48) that has no
wheels for Python 3.11. The environment built here keeps what their code depends on and moves only what must move:
- torch and torchvision: the kit's own versions (the machine's wheels; a CUDA build that also runs on the CPU);
- librosa 0.9.2 (all three call `filters.mel` with positional arguments, which 0.10 made keyword-only; it imports
  pkg_resources, so setuptools < 81) and
  numpy < 2 (librosa 0.9 and the repositories use aliases numpy 2 removed);
- face-alignment 1.3.4 for PC-AVS and MakeItTalk (`LandmarksType._2D` / `_3D`, renamed after 1.3.4);
- the packages their requirements forget (MakeItTalk: tensorboardX, matplotlib, webrtcvad through resemblyzer;
  PC-AVS: lws, dill, dominate) and an ffmpeg on the environment's PATH (imageio-ffmpeg's binary, linked as
  bin/ffmpeg: all three CLIs call `ffmpeg`);
- lws 1.2.8 (PC-AVS imports it) built from its sdist with the Cython file regenerated (the shipped .cpp does not
  compile on Python 3.11);
- `pynormalize`, imported by MakeItTalk but not on PyPI and never called on its end2end path, as a named
  placeholder module whose function raises if it is ever called.

The environment records what it is (`spacex-baseline-env.json`: the spec, the clone's commit, `pip freeze`), so a
result can be traced to the exact packages. The kit's evaluate runs the CLI with `<venv>/bin/python` and puts
`<venv>/bin` first on its PATH.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from spacex.errors import KitError
from spacex.evaluate.baselines.base import git_commit


class SetupError(KitError, RuntimeError):
    """A baseline environment that could not be built (with the failing command and the tail of its output)."""


@dataclass(frozen=True)
class EnvSpec:
    requirements: tuple[str, ...]  # pip requirement specifiers, resolved together with the kit's torch
    lws: bool = False  # build lws from its sdist with a regenerated Cython file
    placeholders: tuple[str, ...] = ()  # modules imported (never called) by the official CLI and absent from PyPI


COMMON = ("numpy<2", "librosa==0.9.2", "setuptools<81", "numba", "scipy", "opencv-python-headless", "tqdm",
          "imageio-ffmpeg")
SPECS: dict[str, EnvSpec] = {
    # requirements.txt at 5c90fa9: librosa==0.7.0 numpy==1.17.1 opencv(-contrib)-python torch==1.1.0 torchvision
    # tqdm numba==0.48
    "wav2lip": EnvSpec(COMMON),
    # requirements.txt at c3a55ed: ffmpeg-python opencv-python face_alignment scikit-learn pydub soundfile librosa
    # pysptk pyworld resemblyzer; main_end2end also imports tensorboardX, matplotlib and pynormalize
    "makeittalk": EnvSpec(COMMON + ("face-alignment==1.3.4", "ffmpeg-python", "scikit-learn", "pydub", "soundfile",
                                    "pysptk", "pyworld", "resemblyzer", "tensorboardX", "matplotlib"),
                          placeholders=("pynormalize",)),
    # requirements.txt at 201d2b9: torch>=1.2.0 torchvision dominate>=2.3.1 dill scikit-image numpy>=1.15.4
    # scipy>=1.1.0 matplotlib opencv-python>=3.4.3.18 tensorboard==1.14.0 tqdm librosa; config/AudioConfig.py
    # imports lws; scripts/align_68.py face_alignment
    "pcavs": EnvSpec(COMMON + ("face-alignment==1.3.4", "dominate>=2.3.1", "dill", "scikit-image", "matplotlib"),
                     lws=True),
}
ENV_RECORD = "spacex-baseline-env.json"
LWS = "lws==1.2.8"
PLACEHOLDER = '''"""Placeholder written by `spacex baselines setup`: the baseline imports this module, which is not
on PyPI, and its inference path never calls it. Anything called here raises, so a run cannot silently depend on it."""


def __getattr__(name):
    if name.startswith("__"):  # the import system's and tools' probes
        raise AttributeError(name)
    raise NotImplementedError(f"{__name__}.{name}: placeholder module (not on PyPI); install the real package "
                              "if this code path is needed")
'''


def default_venv(name: str) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "spacex" / "baselines" / name


def torch_pins() -> list[str]:
    """The kit's own torch and torchvision, so the baseline runs on the wheels this machine has (pip finds them in its
    cache or the configured index; a local version such as +cu121 needs that index, as for the kit itself)."""
    return [f"{p}=={metadata.version(p)}" for p in ("torch", "torchvision")]


def setup(name: str, venv: Path | None = None, repo: Path | None = None, python: str | None = None,
          log=print) -> Path:
    """Build (or complete) the environment of baseline `name` in `venv`; returns its interpreter."""
    if name not in SPECS:
        raise SetupError(f"unknown baseline {name!r}: one of {', '.join(SPECS)}")
    spec = SPECS[name]
    venv = Path(venv or default_venv(name)).expanduser().resolve()
    if repo is not None and not Path(repo).is_dir():
        raise SetupError(f"{repo}: no such folder (give --repo the folder of the baseline's clone)")
    t0 = time.time()
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"{name}: creating {venv}")
        _call([python or _base_python(), "-m", "venv", str(venv)])
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    reqs = [*torch_pins(), *spec.requirements]
    log(f"{name}: pip install {' '.join(reqs)}")
    _call([*pip, *reqs])
    if spec.lws:
        _build_lws(py, pip, log)
    site = Path(_call([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    for module in spec.placeholders:
        (site / module).mkdir(exist_ok=True)
        for f in ("__init__.py", f"{module}.py"):  # `import pynormalize.pynormalize` imports both
            (site / module / f).write_text(PLACEHOLDER)
    ffmpeg = _call([str(py), "-c", "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"]).strip()
    link = venv / "bin" / "ffmpeg"
    link.unlink(missing_ok=True)
    link.symlink_to(ffmpeg)
    record = {"baseline": name, "spec": asdict(spec), "torch": torch_pins(), "python": _call(
        [str(py), "-c", "import sys; print(sys.version.split()[0])"]).strip(),
        "repo": str(Path(repo).resolve()) if repo else None, "repo_commit": git_commit(repo),
        "built": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.time() - t0, 1),
        "freeze": _call([str(py), "-m", "pip", "freeze", "--disable-pip-version-check"]).split()}
    (venv / ENV_RECORD).write_text(json.dumps(record, indent=1))
    log(f"{name}: ready in {record['seconds']:.0f} s; set evaluate.baselines.{name}.python: {py}")
    return py


def _build_lws(py: Path, pip: list[str], log) -> None:
    """lws 1.2.8's sdist ships a .cpp generated by an old Cython that does not compile on 3.11; its setup.py's own
    switch LWS_USE_CYTHON=1 regenerates it from lws.pyx."""
    if _imports(py, "lws"):
        return
    log(f"lws: building {LWS} from its sdist with LWS_USE_CYTHON=1 (Cython file regenerated)")
    _call([*pip, "cython<3", "setuptools<81", "wheel"])
    _call([*pip, "--no-build-isolation", "--no-binary", "lws", LWS], env={**os.environ, "LWS_USE_CYTHON": "1"})


def _imports(py: Path, module: str) -> bool:
    return subprocess.run([str(py), "-c", f"import {module}"], capture_output=True).returncode == 0


def _base_python() -> str:
    """The interpreter to build the venv from: the base of the kit's own (so the same Python version)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _call(cmd: list[str], env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env)
    except OSError as e:
        raise SetupError(f"{cmd[0]}: cannot run it ({e.strerror})") from e
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise SetupError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
    return proc.stdout
