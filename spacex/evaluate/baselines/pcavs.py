"""PC-AVS (Zhou et al. 2021) through its official scripts/align_68.py and inference.py.

    python scripts/align_68.py --folder_path <dir>               # -> <dir>_cropped/, 224x224 aligned faces
    python -u inference.py <the flags of experiments/demo_vox.sh> --meta_path_vox <one-line csv>

Read from github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS (flags from experiments/demo_vox.sh at 16adc8b, all still
parsed; inference.py, data/voxtest_dataset.py, scripts/align_68.py re-read at 201d2b9, its newest, 2026-12-02):
- demo_vox.sh is `python -u inference.py --name demo ... --meta_path_vox ./misc/demo.csv`; we run the same
  command with our csv instead of overwriting misc/demo.csv (DEMO_VOX_FLAGS below, copied from it).
- The csv is one space-separated line of 8 fields, as prepare_testing_files.py writes it:
  input_dir num_inputs pose_dir num_pose_frames audio_path mouth_dir num_mouth_frames spectrogram_path;
  'None' for no mouth source / no precomputed spectrogram. With no pose video the pose source is the input
  folder itself (1 frame), which is what voxtest_dataset falls back to: the pose stays fixed. Frames are read
  as '{:06}.jpg', so the aligned photo is 000000.jpg. Fields are split on whitespace: paths may not contain
  any (ours are relative to the run folder).
- Output: results/id_<input>_pose_<pose>_audio_<audio stem>/<seq>/<seq><j>.jpg (224x224, no audio; j from 0,
  unpadded) and mp4s made by ffmpeg. Since c63c8ac (2021-04-16) `--driving_pose` (in demo_vox.sh) writes the
  sequences Input_, G_Pose_Driven_ and Pose_Source_ and no G_Fix_Pose_ (written only without the flag); with
  the pose source = the photo, G_Pose_Driven_ is the fixed-pose result (av_model.py:480-490). Frame j is generated for target
  frame j + 2 (target_frame_inds = arange(2, n - 2)), so generated frame j matches source frame j + 2: the
  default offset is 2; `estimate_offset` on a real output against ground truth checks it.
- inference.py catches every exception per csv line, prints it and exits 0: a missing output is the error.
- It calls .cuda() unconditionally (inference.py:97, models/networks/__init__.py:40, av_model.py:56-59) and
  torch.load without map_location (av_model.py:777-779). Without a GPU the adapter passes `--gpu_ids -1` (no
  set_device, no net.cuda() in create_network) and runs it on the CPU route (base.CPU_ROUTE: the remaining .cuda()
  calls and torch.load go to the CPU; the clone is not edited). Importing models/networks/loss.py
  builds VGG19(pretrained=True) (a default argument), fetching vgg19-dcbb9e9d.pth. align_68.py runs on the CPU
  with face-alignment's 2D FAN (`LandmarksType._2D`: face-alignment <= 1.3.4; S3FD + 2D FAN fetched on first use)
  and prints 'preprocessing failed' (exit 0) when it finds no single face. `check()` names these weight files.

Framing: the generated 224 frames are registered to the photo through the aligned input align_68.py wrote (the
similarity from the photo's MTCNN 5 points to the aligned crop's, then voxtest_dataset.load_img's fixed crop of
it: rows [0, 192), columns [16, 208), resized to 224, the frame PC-AVS generates in) and pasted back; this needs
no face in the generated frames, so the protocol's ground-truth box applies as for every other method (paste_back=False
keeps the raw 224 crops, recorded as framing "crop": evaluate then registers them to the photo by face detection
on the generated frames, which needs a face in them, and cuts them with the ground truth's box).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacex import media
from spacex.evaluate.baselines.base import (Adapter, BaselineConfig, BaselineError, face_points, file_record,
                                            paste_back, save_image, similarity)

CHECKPOINTS = [f"checkpoints/demo/latest_net_{n}.pth" for n in ("G", "V", "E", "A_sync")]
ALIGN = "scripts/align_68.py"
DEMO_VOX_FLAGS = [  # experiments/demo_vox.sh, less --meta_path_vox
    "--name", "demo", "--list_start", "0", "--list_end", "1", "--dataset_mode", "voxtest", "--netG", "modulate",
    "--netA", "resseaudio", "--netA_sync", "ressesync", "--netD", "multiscale", "--netV", "resnext",
    "--netE", "fan", "--num_inputs", "1", "--gpu_ids", "0", "--clip_len", "1", "--batchSize", "8",
    "--model", "av", "--style_dim", "2560", "--nThreads", "4", "--norm_D", "spectralsyncbatch",
    "--input_id_feature", "--generate_interval", "1", "--style_feature_loss", "--use_audio", "1",
    "--noise_pose", "--driving_pose", "--gen_video", "--generate_from_audio_only",
]
ID = "spacexid"  # input folder name (its '_cropped' twin is what PC-AVS reads)


@dataclass
class PCAVSConfig(BaselineConfig):  # extra_args go after the demo_vox.sh flags: ["--gpu_ids", "1"] overrides
    offset: int = 2  # generated frame j matches source frame j + offset (PC-AVS: 2)
    output: str = "G_Pose_Driven_"  # the generated sequence (with --driving_pose; G_Fix_Pose_ without it)
    paste_back: bool = True  # register the 224 crops to the photo and paste them in (same framing as the GT)


class PCAVS(Adapter):
    name = "pcavs"
    entry = "inference.py"
    url = "https://github.com/Hangz-nju-cuhk/Talking-Face_PC-AVS"
    config = PCAVSConfig
    # run end to end on the CPU route with random weights saved by torch 2.x (benchmarks/baselines_integration.py):
    # whether the released checkpoints load under torch.load's weights_only default is not shown by it
    verified_commit = "201d2b9"
    hub_weights = [
        (("vgg19-dcbb9e9d.pth",), "torchvision's VGG19 (built when models/networks/loss.py is imported)"),
        (("s3fd-619a316812.pth",), "face-alignment's S3FD face detector (scripts/align_68.py)"),
        (("2DFAN4-cd938726ad.zip", "2DFAN4_1.5-a60332318a.zip", "2DFAN4_1.6-c827573f02.zip"),
         "face-alignment's 2D FAN (scripts/align_68.py)"),
    ]

    def required_files(self) -> list[tuple[str, str]]:
        return [(ALIGN, "face alignment script")] + [(p, "checkpoint") for p in CHECKPOINTS]

    def checkpoint_record(self) -> dict[str, dict]:
        return {p: file_record(self.repo / p) for p in CHECKPOINTS}

    def _render(self, photo: np.ndarray, speech: np.ndarray, out_mp4: Path, workdir: Path) -> Path:
        fps = self.protocol.fps
        run_dir = self.shadow(workdir, writable=["results", "spacexinput"])
        inp = run_dir / "spacexinput"
        save_image(inp / ID / "000000.jpg", photo)
        media.write_wav(inp / "spacexspeech.wav", speech, self.protocol.sample_rate)

        proc = self.run([ALIGN, "--folder_path", f"spacexinput/{ID}"], cwd=run_dir, workdir=workdir, tag="align")
        aligned = f"spacexinput/{ID}_cropped"
        if not (run_dir / aligned / "000000.jpg").is_file():
            raise self.failed_silently(f"aligned no face into {aligned}/000000.jpg", proc)

        csv = inp / "spacex.csv"
        csv.write_text(" ".join([aligned, "1", aligned, "1", "spacexinput/spacexspeech.wav", "None", "0", "None"])
                       + "\n")
        cpu = ["--gpu_ids", "-1"] if self.device() == "cpu" else []  # no set_device, no net.cuda() in create_network
        proc = self.run([self.entry, *DEMO_VOX_FLAGS, *cpu, "--meta_path_vox", str(csv.relative_to(run_dir)),
                         *self.cfg.extra_args], cwd=run_dir, workdir=workdir, tag="inference")
        frames_dir = [d for d in (run_dir / "results").glob(f"*/{self.cfg.output}") if d.is_dir()]
        files = sorted(frames_dir[0].glob(f"{self.cfg.output}*.jpg"), key=_index) if frames_dir else []
        if not files:
            raise self.failed_silently(f"wrote no {self.cfg.output}*.jpg frames under results/", proc)
        if [_index(f) for f in files] != list(range(len(files))):
            raise BaselineError(f"pcavs: frames in {frames_dir[0]} are not numbered 0..{len(files) - 1}")

        off = self.cfg.offset
        notes = [f"{len(files)} frames {self.cfg.output}, generated frame j placed at t = (j + {off}) / {fps}; "
                 f"the first {max(off, 0)} output frames repeat generated frame 0"]
        if self.cfg.paste_back:
            aligned_img = media.read_image(run_dir / aligned / "000000.jpg")
            tform = similarity(face_points([photo]), face_points([aligned_img])) + input_crop(aligned_img.shape[0])
            notes.append("224x224 frames registered to the photo through PC-AVS's aligned input (similarity on "
                         "MTCNN 5 points, then voxtest's input crop) and pasted back")
            size = photo.shape[:2]

            def frames():
                for j, f in enumerate(files):
                    yield (j + off) / fps, paste_back(media.read_image(f), photo, tform, order=self.protocol.paste_order)
        else:
            size = media.read_image(files[0]).shape[:2]
            notes.append("raw 224x224 crops (not in the photo's framing: evaluate cuts them by detection)")

            def frames():
                for j, f in enumerate(files):
                    yield (j + off) / fps, media.read_image(f)

        return self.finish(frames(), speech, out_mp4, size, notes, float(fps), offset=off,
                           framing="photo" if self.cfg.paste_back else "crop")


def _index(path: Path) -> int:
    m = re.search(r"(\d+)\.jpg$", path.name)
    return int(m.group(1)) if m else -1


def input_crop(size: int = 224, crop_len: int = 16):
    """voxtest_dataset.load_img's crop of the aligned input: rows [0, size - 2 crop_len), columns [crop_len,
    size - crop_len), resized back to size (cv2.resize: half-pixel centres). PC-AVS generates in that frame, so
    aligned-crop pixels -> output pixels."""
    from skimage.transform import AffineTransform

    s = size / (size - 2 * crop_len)
    return AffineTransform(matrix=np.array([[s, 0, (0.5 - crop_len) * s - 0.5], [0, s, 0.5 * s - 0.5], [0, 0, 1]]))
