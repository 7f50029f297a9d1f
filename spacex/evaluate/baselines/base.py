"""What every baseline adapter shares: its config, the missing-files check, running the official CLI in the
user's own environment, and turning whatever it wrote into the protocol's mp4.

Each official repository pins its own torch/librosa/face-alignment, so the kit never imports it: it runs the
official entry script with the interpreter of the baseline's environment (`python` in the config), as a
subprocess, in a per-run *shadow* of the repository: a folder of symlinks to every top-level entry of the
clone except the folders the CLI writes into (Wav2Lip temp/, MakeItTalk examples/, PC-AVS results/), which
are real folders of the run. So the user's clone is never written to, two runs never share a scratch folder,
and the relative paths the official code hard-codes (checkpoints/, examples/ckpt/, temp/) still resolve.

Every rendered mp4 is normalized the same way: frames resampled to 25 fps by nearest presentation time,
length fitted to the input speech (the last frame repeated, or extra frames dropped), our 16 kHz mono speech
muxed in, full frames in the photo's framing (so the protocol's ground-truth box applies); a JSON next to it
records the command, the repository commit, checkpoint sizes and sha256, and what was done.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import numpy as np

from spacex import checkpoint, media
from spacex.errors import KitError
from spacex.evaluate.protocol import Protocol, resample_stream, resize

STDERR_TAIL = 25  # lines of the baseline's output quoted in an error
CPU_ROUTE = Path(__file__).parent / "cpu_route"  # sitecustomize.py: CUDA calls to the CPU when there is no GPU


class BaselineError(KitError, RuntimeError):
    """A baseline that cannot render: what is missing, or how its CLI failed (with the tail of its output)."""


@dataclass
class BaselineConfig:
    repo: str | None = None  # clone of the official repository, fetched by the user (none is downloaded here)
    python: str = "python"  # interpreter of the baseline's own environment (name on PATH or path)
    checkpoint: str | None = None  # main checkpoint, absolute or relative to repo (adapters that take one)
    extra_args: list[str] = field(default_factory=list)  # appended to the official command line
    # extra environment for the CLI, e.g. CUDA_VISIBLE_DEVICES; its PATH and PYTHONPATH go in front of the kit's
    # (and of the CPU route)
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 3600.0  # per clip
    # "auto": the GPU where the baseline's torch sees one, else the CPU route (cpu_route/sitecustomize.py maps
    # the official code's CUDA calls to the CPU without editing the clone); "cpu" or "cuda" to force either
    device: str = "auto"


@dataclass
class RenderInfo:
    """What the normalization did, written as JSON next to the mp4."""

    method: str
    commands: list[list[str]]  # the official CLI calls, in order
    repo: str
    repo_commit: str | None
    checkpoints: dict[str, dict]  # relative path -> {bytes, sha256}
    frames_in: int  # frames the baseline rendered
    fps_in: float
    frames_out: int  # at the protocol fps, fitted to the speech
    repeated_tail: int  # output frames past the baseline's last frame (its last frame repeated)
    offset_applied: int = 0  # generated frame j was placed at output frame j + offset
    framing: str = "photo"  # "photo": full frames in the photo's framing; "crop": the baseline's own face crops
    device: str = ""  # where the baseline ran ("cpu": through the CPU route)
    seconds: float = 0.0  # wall time of its CLI calls
    notes: list[str] = field(default_factory=list)


class Adapter:
    """One official baseline CLI. Subclasses name the entry script and required files and implement `_render`."""

    name: ClassVar[str]
    entry: ClassVar[str]  # entry script, relative to the repository
    url: ClassVar[str]  # where the user clones it from (quoted in check messages)
    config: ClassVar[type[BaselineConfig]] = BaselineConfig  # its settings, defaulted when none are given
    verified_commit: ClassVar[str | None] = None  # the upstream commit this adapter was last run against
    # Weight files the official code fetches by itself at run time (offline that ends in a bare URLError), looked
    # for in torch hub's cache of the baseline's environment: (acceptable file names, what uses it).
    hub_weights: ClassVar[list[tuple[tuple[str, ...], str]]] = []

    def __init__(self, cfg: BaselineConfig | None = None, protocol: Protocol | None = None):
        self.cfg = cfg or self.config()
        self.protocol = protocol or Protocol()

    # ---- what is needed
    @property
    def repo(self) -> Path | None:
        return Path(self.cfg.repo).expanduser().resolve() if self.cfg.repo else None

    def required_files(self) -> list[tuple[str, str]]:
        """(path relative to the repository, what it is) for every checkpoint the CLI loads."""
        return []

    def check(self) -> list[str]:
        """Everything missing, one line each (repository, entry script, each checkpoint, the interpreter);
        an empty list means render can run."""
        missing = []
        repo = self.repo
        if repo is None:
            missing.append(f"{self.name}: no repository configured (set repo to a clone of {self.url})")
        elif not repo.is_dir():
            missing.append(f"{self.name}: repository {repo} does not exist (clone {self.url})")
        if repo is not None:
            for rel, what in [(self.entry, "entry script")] + self.required_files():
                p = repo / rel
                if not p.is_file():
                    missing.append(f"{self.name}: {what} {Path(rel).name} missing: expected at {p}")
        if self.interpreter() is None:
            missing.append(f"{self.name}: interpreter {self.cfg.python!r} not found or not executable (set python "
                           f"to the python of the baseline's own environment: spacex baselines setup {self.name})")
        if shutil.which("ffmpeg", path=self._base_env()["PATH"]) is None:  # the CLI's PATH (the route adds none)
            missing.append(f"{self.name}: ffmpeg not found on PATH (its CLI calls it; install ffmpeg or put its "
                           "folder on evaluate.baselines.<method>.env.PATH)")
        hub = self.hub_dir()
        for names, what in self.hub_weights:
            if not any((hub / n).is_file() for n in names):
                missing.append(f"{self.name}: {what} weights {names[0]} missing: expected at {hub / names[0]}"
                               + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")
                               + "; the official code would download it at run time")
        return missing

    def interpreter(self) -> Path | None:
        """The baseline's python as found (not resolved: a venv's bin/python must stay in its venv)."""
        found = shutil.which(os.path.expanduser(self.cfg.python))
        return Path(found).absolute() if found else None

    def cli_env(self) -> dict[str, str]:
        """The environment of the official CLI: ours less PYTHONPATH/PYTHONHOME, the interpreter's folder first on
        PATH (as when its venv is activated: its ffmpeg and scripts), the CPU route on a machine without a GPU,
        then the config's env."""
        env = self._base_env()
        # the route after the config's PYTHONPATH: Python imports the first sitecustomize only, so one of the
        # config's (benchmarks/baselines_check_site) wins and must load the route itself
        if self.interpreter() is not None and self.device() == "cpu":
            env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(CPU_ROUTE)) if p)
        return env

    def _base_env(self) -> dict[str, str]:
        """cli_env without the CPU route; cfg.env's PATH and PYTHONPATH are put in front, the rest replaces."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}  # ours, not theirs
        py = self.interpreter()
        path = [self.cfg.env.get("PATH"), str(py.parent) if py is not None else None, env.get("PATH")]
        env["PATH"] = os.pathsep.join(p for p in path if p)
        # no __pycache__ written into the user's clone (the shadow links to its folders)
        env.update({"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        env.update({k: v for k, v in self.cfg.env.items() if k != "PATH"})
        return env

    def device(self) -> str:
        """Where the baseline runs: cfg.device, or for "auto" what the baseline's own torch reports in the CLI's
        environment (cfg.env included: CUDA_VISIBLE_DEVICES counts)."""
        if self.cfg.device not in ("auto", "cpu", "cuda"):
            raise BaselineError(f"{self.name}: device {self.cfg.device!r}: one of auto, cpu, cuda")
        if self.cfg.device != "auto":
            return self.cfg.device
        py = self.interpreter()
        if py is None:
            return "cpu"
        env = self._base_env()
        return _sees_gpu(str(py), tuple(sorted(env.items())))

    def hub_dir(self) -> Path:
        """torch hub's checkpoint cache as the baseline's environment sees it (TORCH_HOME from its env or ours)."""
        torch_home = self.cfg.env.get("TORCH_HOME") or os.environ.get("TORCH_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
        return Path(torch_home) / "hub" / "checkpoints"

    # ---- rendering
    def render(self, photo: str | Path | np.ndarray, audio: str | Path, out_mp4: str | Path,
               workdir: str | Path) -> Path:
        """Animate `photo` (image path or (H, W, 3) uint8 RGB) with the speech in `audio` (any file with sound)
        through the official CLI; write `out_mp4` (25 fps, photo framing, the speech at 16 kHz) and its JSON.
        workdir: scratch space for this run (inputs, shadow repository, CLI logs), kept for inspection."""
        missing = self.check()
        if missing:
            raise BaselineError(f"{self.name} cannot run:\n  " + "\n  ".join(missing))
        image = load_photo(photo)
        speech, sr = media.read_audio(audio, self.protocol.sample_rate)  # (N,) float32 mono 16 kHz
        if len(speech) == 0:
            raise BaselineError(f"{audio}: no audio samples")
        workdir = Path(workdir) / self.name
        if workdir.exists():
            shutil.rmtree(workdir)  # a previous run's shadow and outputs must not be mistaken for this run's
        workdir.mkdir(parents=True)
        self.commands: list[list[str]] = []
        self.seconds = 0.0
        return self._render(image, speech, Path(out_mp4), workdir)

    def _render(self, photo: np.ndarray, speech: np.ndarray, out_mp4: Path, workdir: Path) -> Path:
        raise NotImplementedError

    # ---- helpers for subclasses
    def shadow(self, workdir: Path, writable: Sequence[str], written_files: Sequence[str] = ()) -> Path:
        """A shadow of the repository in workdir/repo: symlinks to every top-level entry except `writable`,
        which become empty real folders (where the CLI writes), and `written_files`, top-level files the CLI
        (re)writes, which are left out so that it writes a file of the run instead of through a link."""
        dest = workdir / "repo"
        dest.mkdir()
        for entry in sorted(self.repo.iterdir()):
            if entry.name not in writable and entry.name not in written_files:
                (dest / entry.name).symlink_to(entry)
        for name in writable:
            (dest / name).mkdir(exist_ok=True)
        return dest

    def run(self, args: list[str], cwd: Path, workdir: Path, tag: str = "cli") -> subprocess.CompletedProcess:
        """Run `python args...` in cwd with the baseline's interpreter; output goes to workdir/<tag>.log.
        Raises BaselineError (with the output tail) on a non-zero exit or timeout."""
        cmd = [str(self.interpreter() or self.cfg.python), *args]
        env = self.cli_env()
        log = workdir / f"{tag}.log"
        self.commands.append(cmd)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace",
                                  timeout=self.cfg.timeout_s)
        except subprocess.TimeoutExpired as e:
            out = _text(e.stdout) + _text(e.stderr)
            log.write_text(out)
            raise BaselineError(f"{self.name}: {' '.join(cmd)} timed out after {self.cfg.timeout_s:g} s "
                                f"(cwd {cwd}); output tail:\n{tail(out)}") from e
        finally:
            self.seconds += time.perf_counter() - t0
        log.write_text(f"$ {' '.join(cmd)}\n(cwd {cwd})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        if proc.returncode != 0:
            raise BaselineError(f"{self.name}: {' '.join(cmd)} exited with {proc.returncode} (cwd {cwd}, log {log}); "
                                f"stderr tail:\n{tail(proc.stderr or proc.stdout)}")
        return proc

    def failed_silently(self, what: str, proc: subprocess.CompletedProcess) -> BaselineError:
        """For CLIs that print an error and still exit 0 (PC-AVS catches its exceptions)."""
        return BaselineError(f"{self.name}: {' '.join(proc.args)} exited 0 but {what}; output tail:\n"
                             f"{tail(proc.stderr + proc.stdout)}")

    def finish(self, frames: Iterable[tuple[float, np.ndarray]], speech: np.ndarray, out_mp4: Path,
               size: tuple[int, int], notes: list[str], fps_in: float, offset: int = 0, framing: str = "photo"
               ) -> Path:
        """Write the protocol mp4 from a (seconds, (h, w, 3) frame) stream in the photo's framing (or, framing
        "crop", the baseline's own face crops, which evaluate cuts by detection): nearest-time resampling to the
        protocol fps, length fitted to the speech, frames resized to `size` (H, W, even)."""
        fps, sr = self.protocol.fps, self.protocol.sample_rate
        n_out = max(1, int(round(len(speech) / sr * fps)))
        counted = _Counter(frames)
        out = (resize(f, size) for f in resample_stream(counted, fps, n_out))
        media.write_video(out_mp4, out, fps, speech, sr)
        try:
            counted.drain()
        except Exception:
            out_mp4.unlink(missing_ok=True)  # written from a baseline output that turned out truncated
            raise
        commit = git_commit(self.repo)
        if self.verified_commit and commit and not commit.startswith(self.verified_commit):
            note = (f"the clone is at {commit[:12]}, the adapter was verified against {self.verified_commit}: "
                    "check its outputs (file names, offsets) if they look wrong")
            notes = [*notes, note]
            warnings.warn(f"{self.name}: {note}", stacklevel=2)
        last_t = counted.last_t
        covered = int(np.floor(last_t * fps + 0.5)) + 1  # output frames up to the nearest one to the last input
        info = RenderInfo(
            method=self.name, commands=self.commands, repo=str(self.repo),
            repo_commit=commit, checkpoints=self.checkpoint_record(), frames_in=counted.n,
            fps_in=fps_in, frames_out=n_out, repeated_tail=max(0, n_out - covered), offset_applied=offset,
            framing=framing, device=self.device(), seconds=round(self.seconds, 2), notes=notes)
        out_mp4.with_suffix(".json").write_text(json.dumps(asdict(info), indent=1))
        return out_mp4

    def checkpoint_record(self) -> dict[str, dict]:
        return {rel: file_record(self.repo / rel) for rel, _ in self.required_files()}


@lru_cache(maxsize=8)
def _sees_gpu(python: str, env: tuple[tuple[str, str], ...]) -> str:
    """"cuda" when `python`'s torch sees a GPU in environment `env`, else "cpu" (asked once per pair)."""
    try:
        probe = subprocess.run([python, "-c", "import torch; print(torch.cuda.is_available())"], capture_output=True,
                               text=True, timeout=300, env=dict(env))
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BaselineError(f"{python}: could not ask its torch for a GPU ({e})") from e
    if probe.returncode != 0:
        raise BaselineError(f"{python}: could not ask its torch for a GPU:\n{tail(probe.stderr, 5)}")
    return "cuda" if probe.stdout.strip().splitlines()[-1:] == ["True"] else "cpu"


class _Counter:
    """Pass a (time, frame) stream through, counting frames and keeping the last time; `drain` reads the rest
    (frames past the speech still count, and a truncated output still raises)."""

    def __init__(self, stream):
        self.n, self.last_t = 0, 0.0
        self.it = self._gen(stream)

    def _gen(self, stream):
        for t, f in stream:
            self.n, self.last_t = self.n + 1, t
            yield t, f

    def __iter__(self):
        return self.it

    def drain(self) -> None:
        for _ in self.it:
            pass


# ------------------------------------------------------------------------------------------------ utilities

def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def tail(text: str, n: int = STDERR_TAIL) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-n:]) if lines else "(no output)"


def load_photo(photo: str | Path | np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB with even H and W (H.264 needs them: an odd last row/column is dropped)."""
    if isinstance(photo, (str, Path)):
        try:
            image = media.read_image(photo)
        except media.MediaError as e:
            raise BaselineError(str(e)) from e
    else:
        image = np.asarray(photo)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise BaselineError(f"photo must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    H, W = image.shape[:2]
    return np.ascontiguousarray(image[: H - H % 2, : W - W % 2])


def save_image(path: Path, image: np.ndarray, quality: int = 95) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=quality)  # quality: jpg only (png is lossless)
    return path


def git_commit(repo: Path | None) -> str | None:
    """The full commit of a baseline's clone (its own .git, not a repository around it)."""
    if repo is None or not (repo / ".git").exists():
        return None
    return checkpoint.git_commit(repo, short=False, dirty=False)


def file_record(path: Path) -> dict:
    """{bytes, sha256} of a checkpoint (links die: the name and checksum say which file was used)."""
    st = path.stat()
    return {"bytes": st.st_size, "sha256": _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)}


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the cache: a changed file rehashes
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def face_points(images: Sequence[np.ndarray], min_prob: float = 0.9) -> np.ndarray:
    """MTCNN's 5 points (eyes, nose, mouth corners) of the largest face, median over `images`: (5, 2) x, y.
    Raises BaselineError when no image has a face."""
    import torch

    from spacex.preprocess.detect import _mtcnn  # the kit's one MTCNN instance (weights inside its wheel)

    pts = []
    with torch.no_grad():
        boxes, probs, marks = _mtcnn("cpu").detect(list(images), landmarks=True)
    for b, p, m in zip(boxes, probs, marks):
        if b is None:
            continue
        b, p, m = np.asarray(b, float), np.asarray(p, float), np.asarray(m, float)
        i = int(np.argmax((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])))
        if p[i] >= min_prob:
            pts.append(m[i])
    if not pts:
        raise BaselineError(f"no face found on {len(images)} frame(s) to register the output to the photo")
    return np.median(np.stack(pts), axis=0)


def similarity(src: np.ndarray, dst: np.ndarray):
    """Least-squares similarity (rotation, uniform scale, translation) taking points src (K, 2) to dst (K, 2)."""
    from skimage.transform import SimilarityTransform

    tform = SimilarityTransform.from_estimate(src, dst)
    if not tform:  # a FailedEstimation (degenerate points)
        raise BaselineError(f"could not register the output to the photo ({tform})")
    return tform


def paste_back(crop: np.ndarray, photo: np.ndarray, photo_to_crop, fill_from_photo: bool = True,
               order: int = 3) -> np.ndarray:
    """Put a face-crop frame (h, w, 3) back into the photo's framing: pixels the crop covers come from the crop
    (warped by the inverse of `photo_to_crop`, a skimage transform from photo to crop pixel coordinates), the rest
    from the photo, or with fill_from_photo=False the crop's edge pixels repeated (none of the photo's pixels: for
    scoring a method's crops); `order` is the warp's spline order (1 bilinear, 3 bicubic). (H, W, 3) uint8."""
    from skimage.transform import warp

    H, W = photo.shape[:2]
    warped = warp(crop.astype(np.float32), photo_to_crop, output_shape=(H, W), order=order, mode="edge",
                  preserve_range=True)
    if not fill_from_photo:
        return np.clip(warped + 0.5, 0, 255).astype(np.uint8)
    inside = warp(np.ones(crop.shape[:2], np.float32), photo_to_crop, output_shape=(H, W), order=0,
                  mode="constant", cval=0.0) > 0.5
    out = photo.copy()
    out[inside] = np.clip(warped[inside] + 0.5, 0, 255).astype(np.uint8)
    return out
