"""Train Landmarks2Latents on (posed landmarks, audio) -> face-vid2vid keypoint pairs.

    spacex train l2l [--profile smoke]      (after fv2v, which extracts the keypoints)

Inputs per frame: the frame's posed landmarks relative to the clip's crop box (the frame face-vid2vid sees),
as motion from the source frame's landmarks,
MFCCs, the gaze motion from the source frame's (spacex.gaze), the source keypoints (frame 0's), the emotion vector; target: that frame's driving keypoints from the
trained face-vid2vid. Validation: keypoint L1 on val clips against the trivial baseline "source keypoints".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacex.config import Config, as_dict
from spacex.models.l2l import Landmarks2Latents
from spacex.train.s2l import target_landmarks
from spacex.train.sequences import SequenceData, SequenceTask, augment_seed, sample_windows
from spacex.train.trainer import run_stage


class L2LData(SequenceData):
    """The clips of one split that have keypoints, read when used: landmark and gaze motion from frame 0's,
    MFCCs, emotion, and the renderer's keypoints (`<keypoint_dir>/<clip>.npz`, spacex.train.keypoints)."""

    def __init__(self, pack_dir: str | Path, keypoint_dir: str | Path, split: str, emotion_dir: str | Path | None = None):
        super().__init__(pack_dir, split, emotion_dir)
        self.keypoint_dir = Path(keypoint_dir)
        self.clips = [c for c in self.clips if self.keypoint_file(c).exists()]
        if not self.clips:
            raise ValueError(f"no {split} clips with keypoints in {keypoint_dir} (run `spacex keypoints` first)")

    def keypoint_file(self, c: dict) -> Path:
        return self.keypoint_dir / f"{c['clip_id']}.npz"

    def inputs(self, c: dict, rows=None) -> dict:
        """Landmark motion (W, 68, 3) and gaze motion (W, 2) relative to the source frame (frame 0, whose keypoints
        are the source's): keypoint motion follows landmark motion, and absolute values would only identify the
        clip; landmarks crop-relative, ~[-1, 1] (the frame face-vid2vid sees)."""
        rows = np.arange(c["n_frames"]) if rows is None else np.asarray(rows)
        both = np.concatenate([[0], rows])
        lms = target_landmarks({"landmarks": self.get(c, "landmarks", both), "crop_box": self.get(c, "crop_box")},
                               "raw") * 2
        gaze = self.get(c, "gaze", both)
        return {"landmarks": lms[1:] - lms[:1], "gaze": gaze[1:] - gaze[:1], "emotion": self.get(c, "emotion", rows)}

    def keypoints(self, c: dict, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """The renderer's driving keypoints (W, K, 3) of these frames and the source keypoints (K, 3)."""
        with np.load(self.keypoint_file(c), allow_pickle=False) as kp:
            driving = kp["driving"] if rows is None else kp["driving"][np.asarray(rows)]
            return driving.astype(np.float32), kp["source"].astype(np.float32)


class L2LTask(SequenceTask):
    name = "l2l"
    network = Landmarks2Latents

    def __init__(self, cfg: Config):
        kp_dir = Path(cfg.fv2v.keypoints)
        train = L2LData(cfg.pack.out, kp_dir, "train", cfg.emotion.predictions)
        self.use_data(cfg.l2l, train, L2LData(cfg.pack.out, kp_dir, "val", cfg.emotion.predictions),
                      num_kp=train.keypoints(train.clips[0], [0])[1].shape[0])  # the renderer's keypoint count

    def plan(self, step, rank, world, generator) -> list:
        """Per item: (clip, frames (W,), mask (W,), augmentation seed or None)."""
        return [(k, idx, m, augment_seed(self.cfg.train.seed, step, b, u[0], self.cfg.audio_augment))
                for b, k, idx, m, u in sample_windows(self.train_data, self.cfg.train.batch_size, self.cfg.window,
                                                      rank, world, generator)]

    def item(self, planned) -> dict:
        k, idx, m, aug = planned
        data = self.train_data
        c = data.clips[k]
        target, source = data.keypoints(c, idx)
        return {**data.inputs(c, idx), "mfcc": data.mfcc(c, idx, aug), "source": source, "target": target, "mask": m}

    def loss(self, model, batch):
        pred, _ = model(batch["landmarks"], batch["mfcc"], batch["source"], batch["emotion"],
                        gaze=batch["gaze"])  # (B, W, K, 3)
        mask = batch["mask"][:, :, None, None]
        loss = ((pred - batch["target"]).abs() * mask).sum() / (mask.sum() * pred.shape[2] * 3)
        return loss, {}

    def val_items(self) -> int:
        return len(self.val_data.clips)

    def validate_item(self, model, device, k) -> dict:
        data = self.val_data
        c = data.clips[k]
        t = lambda x: torch.from_numpy(x[None]).to(device)  # noqa: E731
        x, (driving, source) = data.inputs(c), data.keypoints(c)
        pred, _ = model(t(x["landmarks"]), t(data.mfcc(c)), t(source), t(x["emotion"]), gaze=t(x["gaze"]))
        target = t(driving)
        return {"err": float((pred - target).abs().mean()) * len(driving),
                "base": float((t(source)[:, None] - target).abs().mean()) * len(driving), "frames": float(len(driving))}

    def summarize(self, sums) -> dict:
        return {"kp_l1": sums["err"] / sums["frames"], "baseline_source_kp_l1": sums["base"] / sums["frames"]}


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    run_config = {"profile": cfg.profile, "l2l": as_dict(cfg.l2l), "store": cfg.preprocess.out,
                  "keypoints": cfg.fv2v.keypoints}
    return run_stage(L2LTask(cfg), cfg.l2l.train, cfg.l2l.out, run_config, stop_after, report_dir,
                     ratios={"kp_l1_vs_baseline": ("kp_l1", "baseline_source_kp_l1")}, project=cfg.wandb.project)
