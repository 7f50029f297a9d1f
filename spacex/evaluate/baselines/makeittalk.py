"""MakeItTalk (Zhou et al. 2020) through its official main_end2end.py.

    python main_end2end.py --jpg <name>.jpg      # the jpg must be in examples/, 256x256

Read from github.com/adobe-research/MakeItTalk (main_end2end.py, src/approaches/train_image_translation.py,
commit 0a8d780; re-read at c3a55ed, its newest, 2026-12-02): it reads examples/<jpg>; processes EVERY *.wav in examples/ (each is overwritten, resampled to
16 kHz by ffmpeg, then loudness-normalized to -20 dBFS by pydub); writes examples/dump/random_val_*.pickle,
examples/pred_fls_<wav>_audio_embed.txt and out.mp4 in its working folder (a file of the run, never a link into
the clone); and for each wav writes
examples/<jpg stem>_pred_fls_<wav stem>_audio_embed.mp4: a 768x256 video at 62.5 fps of three panels
[input | generated | landmarks], with that wav muxed in. Checkpoints are read from examples/ckpt/ and
examples/dump/emb.pickle. Its face-alignment call uses `LandmarksType._3D` and device='cuda' (main_end2end.py:71),
and model_audio2landmark.py:245 calls .cuda() unconditionally: without a GPU it runs on the CPU route
(base.CPU_ROUTE maps both to the CPU, the clone unedited); `_3D` needs face-alignment
<= 1.3.4 (renamed THREE_D after it); librosa < 0.10 (positional filters.mel arguments); it imports pynormalize,
tensorboardX and matplotlib, which its requirements.txt omits. face-alignment fetches S3FD, 3D FAN and depth
weights at run time: `check()` names them (hub_weights).

Protecting the user's files: the run happens in a shadow of the clone whose examples/ folder is a fresh real
folder holding only our jpg and wav, plus symlinks to examples/ckpt and to each file of examples/dump. The
clone's own examples/*.wav are never seen, so never overwritten, and its dump/ never receives pickles.

Framing: a non-square photo is cut to a square around the face (MTCNN), resized to 256 for MakeItTalk, and the
generated panel is resized back and pasted into the photo, so the output has the photo's framing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacex import media
from spacex.evaluate.baselines.base import (Adapter, BaselineConfig, BaselineError, face_points, save_image)
from spacex.evaluate.protocol import resize, square_box

PANEL = 256  # MakeItTalk's image size; the output is three PANEL x PANEL panels side by side
CHECKPOINTS = ["examples/ckpt/ckpt_autovc.pth", "examples/ckpt/ckpt_content_branch.pth",
               "examples/ckpt/ckpt_speaker_branch.pth", "examples/ckpt/ckpt_116_i2i_comb.pth",
               "examples/dump/emb.pickle"]
JPG, WAV = "spacexface.jpg", "spacexspeech.wav"  # no '.' or '_' games: its code splits names on both


@dataclass
class MakeItTalkConfig(BaselineConfig):
    pass  # checkpoints live at fixed places in the clone (CHECKPOINTS); extra_args e.g. ["--amp_lip_x", "2."]


class MakeItTalk(Adapter):
    name = "makeittalk"
    entry = "main_end2end.py"
    url = "https://github.com/adobe-research/MakeItTalk"
    config = MakeItTalkConfig
    # run end to end on the CPU route with random weights saved by torch 2.x (benchmarks/baselines_integration.py):
    # whether the released checkpoints load under torch.load's weights_only default is not shown by it
    verified_commit = "c3a55ed"
    hub_weights = [  # face-alignment (<= 1.3.4) fetches these for LandmarksType._3D; names per torch version
        (("s3fd-619a316812.pth",), "face-alignment's S3FD face detector"),
        (("3DFAN4-4a694010b9.zip", "3DFAN4_1.5-176570af4d.zip", "3DFAN4_1.6-ec5cf40a1d.zip"),
         "face-alignment's 3D FAN"),
        (("depth-6c4283c0e0.zip", "depth_1.5-bc10f98e39.zip", "depth_1.6-2aa3f18772.zip"),
         "face-alignment's depth network"),
    ]

    def required_files(self) -> list[tuple[str, str]]:
        return [(p, "checkpoint") for p in CHECKPOINTS]

    def _render(self, photo: np.ndarray, speech: np.ndarray, out_mp4: Path, workdir: Path) -> Path:
        run_dir = self.shadow(workdir, writable=["examples"], written_files=["out.mp4"])
        examples = run_dir / "examples"
        (examples / "ckpt").symlink_to(self.repo / "examples" / "ckpt")
        (examples / "dump").mkdir()
        for f in sorted((self.repo / "examples" / "dump").iterdir()):
            if not f.name.startswith("random_val_"):  # its own outputs from earlier runs in the clone
                (examples / "dump" / f.name).symlink_to(f)

        box = self.square(photo)
        x0, y0, x1, y1 = box
        save_image(examples / JPG, resize(photo[y0:y1, x0:x1], (PANEL, PANEL)))
        media.write_wav(examples / WAV, speech, self.protocol.sample_rate)
        proc = self.run([self.entry, "--jpg", JPG, *self.cfg.extra_args], cwd=run_dir, workdir=workdir)

        result = examples / f"{Path(JPG).stem}_pred_fls_{Path(WAV).stem}_audio_embed.mp4"
        if not result.is_file():
            found = sorted(p.name for p in examples.glob("*_pred_fls_*.mp4"))
            raise self.failed_silently(f"wrote no {result.name} (found: {found or 'none'})", proc)
        info = media.probe(result, decode=False)
        if (info.width, info.height) != (3 * PANEL, PANEL):
            raise BaselineError(f"makeittalk: {result} is {info.width}x{info.height}, expected "
                                f"{3 * PANEL}x{PANEL} ([input | generated | landmarks])")

        side = x1 - x0

        def generated():  # middle panel, back in the photo's framing
            for t, frame in media.iter_frames(result):
                out = photo.copy()
                out[y0:y1, x0:x1] = resize(frame[:, PANEL:2 * PANEL], (side, side))
                yield t, out

        notes = [f"middle panel of the {3 * PANEL}x{PANEL} output, {info.fps:g} -> {self.protocol.fps} fps "
                 f"(nearest time), pasted into the photo at {box}"]
        return self.finish(generated(), speech, out_mp4, photo.shape[:2], notes, info.fps)

    @staticmethod
    def square(photo: np.ndarray):
        """The square the jpg is cut from: the whole photo when square, else the largest square around the face."""
        H, W = photo.shape[:2]
        if H == W:
            return 0, 0, W, H
        try:
            centre = face_points([photo]).mean(0)  # (2,) x, y
        except BaselineError:
            centre = np.array([W / 2, H / 2])
        return square_box(centre, min(H, W), (H, W))
