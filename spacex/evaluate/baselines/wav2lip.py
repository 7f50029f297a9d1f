"""Wav2Lip (Prajwal et al. 2020) through its official inference.py.

    python inference.py --checkpoint_path <wav2lip.pth | wav2lip_gan.pth> --face <img> --audio <wav>
                        --outfile <mp4> [--pads 0 10 0 0] [--nosmooth]

Read from github.com/Rudrabha/Wav2Lip inference.py (commit db7bc44): a still image gives a 25 fps video of
the full frame with only a 96x96 mouth patch re-rendered; one frame per 16-column mel window stepping 80/25
columns, so the video stops about 0.2 s before the speech does (we repeat its last frame to the speech
length); it writes temp/result.avi in its working folder and muxes the wav with ffmpeg into --outfile.
Its face detector loads face_detection/detection/sfd/s3fd.pth. Quirk: `args.face.split('.')[1]` decides
image vs video, so any '.' elsewhere in the face path breaks it: we pass `temp/face.png`, relative to the run
folder, whatever the workdir path is. `--nosmooth` exists at 5c90fa9 (its newest): off by default. It calls
ffmpeg (inference.py:276, subprocess.call with shell=True): `check()` looks for it on PATH.
Its environment pins torch 1.x and librosa <= 0.9 (newer librosa changed filters.mel's signature).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacex import media
from spacex.evaluate.baselines.base import Adapter, BaselineConfig, BaselineError, save_image

S3FD = "face_detection/detection/sfd/s3fd.pth"


@dataclass
class Wav2LipConfig(BaselineConfig):
    checkpoint: str | None = "checkpoints/wav2lip_gan.pth"  # or checkpoints/wav2lip.pth (relative to repo)
    pads: list[int] = field(default_factory=lambda: [0, 10, 0, 0])  # top bottom left right: include the chin
    nosmooth: bool = False  # pass --nosmooth (newer upstream inference.py only)


class Wav2Lip(Adapter):
    name = "wav2lip"
    entry = "inference.py"
    url = "https://github.com/Rudrabha/Wav2Lip"
    config = Wav2LipConfig
    verified_commit = "5c90fa9"  # run end to end, random weights (benchmarks/baselines_integration.py)

    def checkpoint_path(self) -> Path | None:
        if not self.cfg.checkpoint or self.repo is None:
            return None
        p = Path(self.cfg.checkpoint).expanduser()
        return p if p.is_absolute() else self.repo / p

    def required_files(self) -> list[tuple[str, str]]:
        files = [(S3FD, "s3fd face detector checkpoint")]
        if self.cfg.checkpoint:  # relative to the repo, or absolute (repo / absolute = absolute)
            files.insert(0, (str(Path(self.cfg.checkpoint).expanduser()), "Wav2Lip checkpoint"))
        return files

    def check(self) -> list[str]:
        missing = super().check()
        if not self.cfg.checkpoint:
            missing.append("wav2lip: no checkpoint configured (checkpoints/wav2lip_gan.pth or wav2lip.pth)")
        return missing

    def _render(self, photo: np.ndarray, speech: np.ndarray, out_mp4: Path, workdir: Path) -> Path:
        run_dir = self.shadow(workdir, writable=["temp"])
        save_image(run_dir / "temp" / "face.png", photo)  # lossless, and a path with exactly one '.'
        media.write_wav(run_dir / "temp" / "speech.wav", speech, self.protocol.sample_rate)
        args = [self.entry, "--checkpoint_path", str(self.checkpoint_path()), "--face", "temp/face.png",
                "--audio", "temp/speech.wav", "--outfile", "temp/result_voice.mp4",
                "--pads", *map(str, self.cfg.pads)]
        if self.cfg.nosmooth:
            args.append("--nosmooth")
        proc = self.run(args + list(self.cfg.extra_args), cwd=run_dir, workdir=workdir)
        result = run_dir / "temp" / "result_voice.mp4"
        if not result.is_file():
            raise self.failed_silently(f"wrote no {result}", proc)
        info = media.probe(result, decode=False)
        if (info.height, info.width) != photo.shape[:2]:
            raise BaselineError(f"wav2lip: output is {info.width}x{info.height}, the photo "
                                f"{photo.shape[1]}x{photo.shape[0]}: expected the full frame")
        notes = ["full frame from Wav2Lip; its last frame repeated to the speech length"]
        return self.finish(media.iter_frames(result), speech, out_mp4, photo.shape[:2], notes, info.fps)
