"""Fake clones of the official repositories: the stand-in entry scripts where the real ones live, dummy
checkpoints where the real ones are expected, and a few of the user's own files the adapters must not touch."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).parent


def _put(repo: Path, rel: str, data: bytes = b"fake checkpoint") -> Path:
    p = repo / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _script(repo: Path, standin: str, rel: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / standin, repo / rel)
    shutil.copy(HERE / "_common.py", (repo / rel).parent / "_common.py")


def wav2lip_repo(root: Path) -> Path:
    repo = root / "Wav2Lip"
    _script(repo, "wav2lip_inference.py", "inference.py")
    _put(repo, "checkpoints/wav2lip_gan.pth")
    _put(repo, "face_detection/detection/sfd/s3fd.pth")
    _put(repo, "temp/README.md", b"Temporary files at the time of inference/testing will be saved here.\n")
    return repo


MAKEITTALK_CKPTS = ["examples/ckpt/ckpt_autovc.pth", "examples/ckpt/ckpt_content_branch.pth",
                    "examples/ckpt/ckpt_speaker_branch.pth", "examples/ckpt/ckpt_116_i2i_comb.pth",
                    "examples/dump/emb.pickle"]


def makeittalk_repo(root: Path) -> Path:
    repo = root / "MakeItTalk"
    _script(repo, "makeittalk_main_end2end.py", "main_end2end.py")
    for rel in MAKEITTALK_CKPTS:
        _put(repo, rel)
    _put(repo, "examples/dump/random_val_fl.pickle", b"left by an earlier run")
    _put(repo, "out.mp4", b"the user's own out.mp4: main_end2end.py rewrites out.mp4 in its working folder")
    t = np.arange(32000) / 32000  # the user's own example speech (a 32 kHz tone): must stay as it is
    sf.write(repo / "examples" / "M6_04_16k.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 32000)
    return repo


PCAVS_CKPTS = [f"checkpoints/demo/latest_net_{n}.pth" for n in ("G", "V", "E", "A_sync")]


def pcavs_repo(root: Path) -> Path:
    repo = root / "Talking-Face_PC-AVS"
    _script(repo, "pcavs_inference.py", "inference.py")
    _script(repo, "pcavs_align_68.py", "scripts/align_68.py")
    for rel in PCAVS_CKPTS:
        _put(repo, rel)
    _put(repo, "misc/demo.csv", b"misc/Input/517600055 1 misc/Pose_Source/517600055 160 misc/Audio_Source/"
                                b"681600002.mp3 misc/Mouth_Source/681600002 363 dummy\n")
    _put(repo, "results/id_old_pose_old_audio_old/G_Pose_Driven_/G_Pose_Driven_0.jpg", b"an earlier result")
    return repo


HUB_WEIGHTS = ["vgg19-dcbb9e9d.pth", "s3fd-619a316812.pth", "2DFAN4-cd938726ad.zip", "3DFAN4-4a694010b9.zip",
               "depth-6c4283c0e0.zip"]


def baseline_env(root: Path) -> dict[str, str]:
    """What a baseline's environment has besides its clone: ffmpeg on PATH (a stub: the stand-ins never call it)
    and the third-party weights the official code would fetch, in a torch hub cache. -> the env for its config."""
    import os

    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "ffmpeg").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "ffmpeg").chmod(0o755)
    for name in HUB_WEIGHTS:
        _put(root / "torch" / "hub" / "checkpoints", name)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "TORCH_HOME": str(root / "torch")}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root with its content (to prove a run left the clone untouched)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
