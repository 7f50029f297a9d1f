"""Baselines through their official code, each in its own environment, and already-rendered folders.

    adapters = make_adapters(BaselinesConfig(wav2lip=Wav2LipConfig(repo="~/src/Wav2Lip", python="~/envs/w2l/bin/python")))
    for a in adapters.values():
        print(a.name, a.check() or "ready")          # exactly what is missing, file by file
    adapters["wav2lip"].render("photo.png", "speech.wav", "out/wav2lip/clip.mp4", workdir="tmp")

Every render returns a 25 fps mp4 with the 16 kHz speech, in the photo's framing, plus a JSON of what was
run (command, repository commit, checkpoint sha256) and done (resampling, offset, repeated frames).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from spacex.evaluate.baselines.base import Adapter, BaselineConfig, BaselineError
from spacex.evaluate.baselines.folder import FolderConfig, FolderMethod
from spacex.evaluate.baselines.makeittalk import MakeItTalk, MakeItTalkConfig
from spacex.evaluate.baselines.pcavs import PCAVS, PCAVSConfig
from spacex.evaluate.baselines.wav2lip import Wav2Lip, Wav2LipConfig
from spacex.evaluate.protocol import Protocol

ADAPTERS: dict[str, type[Adapter]] = {"wav2lip": Wav2Lip, "makeittalk": MakeItTalk, "pcavs": PCAVS}


@dataclass
class BaselinesConfig:
    wav2lip: Wav2LipConfig = field(default_factory=Wav2LipConfig)
    makeittalk: MakeItTalkConfig = field(default_factory=MakeItTalkConfig)
    pcavs: PCAVSConfig = field(default_factory=PCAVSConfig)
    folders: dict[str, dict] = field(default_factory=dict)  # method name -> FolderConfig fields (root, pattern, ...)


def make_adapters(cfg: BaselinesConfig, protocol: Protocol | None = None, only_configured: bool = True
                  ) -> dict[str, Adapter]:
    """The adapters whose repo is set (all three with only_configured=False)."""
    out = {}
    for name, cls in ADAPTERS.items():
        c = getattr(cfg, name)
        if c.repo or not only_configured:
            out[name] = cls(c, protocol)
    return out


def folder_methods(cfg: BaselinesConfig) -> dict[str, FolderMethod]:
    return {name: FolderMethod.from_config(FolderConfig(**d), name) for name, d in cfg.folders.items()}


__all__ = ["ADAPTERS", "Adapter", "BaselineConfig", "BaselineError", "BaselinesConfig", "FolderConfig",
           "FolderMethod", "MakeItTalk", "MakeItTalkConfig", "PCAVS", "PCAVSConfig", "Wav2Lip", "Wav2LipConfig",
           "folder_methods", "make_adapters"]
