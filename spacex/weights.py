"""Registry of external weight files: where the kit looks for them, their checksums, how to fetch them.

Nothing downloads at run time. Code that needs a file calls `require(name)`, which returns the path when the
file is in the cache and its SHA-256 matches, and otherwise stops with a message naming the file, where to
put it and the command that fetches it. There is never a silent fallback to random weights.

Cache: torch hub's layout, `$TORCH_HOME/hub/checkpoints/` (default `~/.cache/torch/hub/checkpoints/`), which is
also where face-alignment, torchvision and lpips look, so files fetched by those libraries count too.

    spacex weights list              # every file, its status and location
    spacex weights fetch NAME        # download (needs network), verify, place in the cache
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from spacex.errors import KitError


class MissingWeights(KitError, RuntimeError):
    pass


@dataclass(frozen=True)
class WeightFile:
    name: str  # registry key
    filename: str  # file name in the cache
    url: str
    sha256_prefix: str  # torch hub convention: the hex digits after the last '-' in the file name
    used_by: str

    def path(self) -> Path:
        return cache_dir() / self.filename


REGISTRY: dict[str, WeightFile] = {w.name: w for w in [
    WeightFile("fan3d", "3DFAN4-7835d9f11d.pth.tar",
               "https://www.adrianbulat.com/downloads/python-fan/3DFAN4-7835d9f11d.pth.tar", "7835d9f11d",
               "preprocess landmarks backend face_alignment (3D FAN)"),
    WeightFile("fan_depth", "depth-2a464da4ea.pth.tar",
               "https://www.adrianbulat.com/downloads/python-fan/depth-2a464da4ea.pth.tar", "2a464da4ea",
               "preprocess landmarks backend face_alignment (depth of the 3D FAN)"),
    WeightFile("alexnet", "alexnet-owt-7be5be79.pth",
               "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79",
               "LPIPS metric backbone"),
    WeightFile("vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
               "dcbb9e9d", "face-vid2vid perceptual loss"),
    WeightFile("inception_fid", "pt_inception-2015-12-05-6726825d.pth",
               "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
               "6726825d", "FID metric"),
    # The file name carries no hash; the SHA-256 is the one two independent public SyncNet wrappers pin.
    WeightFile("syncnet_v2", "syncnet_v2.model", "https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
               "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
               "LSE-D / LSE-C lip-sync metric (SyncNet v2)"),
]}


def cache_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def status(name: str) -> str:
    w = REGISTRY[name]
    p = w.path()
    if not p.exists():
        return "missing"
    return "ok" if sha256(p).startswith(w.sha256_prefix) else "checksum mismatch"


def require(name: str) -> Path:
    """Path of a verified weight file, or MissingWeights with what to do."""
    w = REGISTRY[name]
    p = w.path()
    state = status(name)
    if state == "ok":
        return p
    raise MissingWeights(
        f"{w.used_by} needs the weight file {w.filename} ({state} at {p}).\n"
        f"Fetch it with:   spacex weights fetch {name}\n"
        f"or download {w.url}\n"
        f"and put it at {p} (its SHA-256 must start with {w.sha256_prefix}; set TORCH_HOME to use another cache)."
    )


def fetch(name: str) -> Path:
    """Download a registered file into the cache and verify it (needs network)."""
    import urllib.request

    w = REGISTRY[name]
    p = w.path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    urllib.request.urlretrieve(w.url, tmp)  # noqa: S310 (fixed, registered https URLs)
    digest = sha256(tmp)
    if not digest.startswith(w.sha256_prefix):
        tmp.unlink()
        raise MissingWeights(f"{w.filename}: downloaded file has SHA-256 {digest}, expected {w.sha256_prefix}...")
    tmp.replace(p)
    return p
