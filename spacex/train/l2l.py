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
from spacex.preprocess import store
from spacex.train.s2l import target_landmarks
from spacex.train.sequences import SequenceTask, sample_windows
from spacex.train.trainer import run_stage


class L2LData:
    def __init__(self, store_dir: str | Path, keypoint_dir: str | Path, split: str):
        self.clips = []
        for c in store.read_manifest(store_dir)["clips"]:
            kp_path = Path(keypoint_dir) / f"{c['clip_id']}.npz"
            if c["split"] != split or not kp_path.exists():
                continue
            arr = store.read_clip(store_dir, c["clip_id"])
            lms = target_landmarks(arr, "raw") * 2  # crop-relative, ~[-1, 1]: the frame face-vid2vid sees
            if "gaze" not in arr:
                raise ValueError(f"{store_dir}: clip {c['clip_id']} has no gaze; re-run preprocessing (spacex preprocess)")
            with np.load(kp_path, allow_pickle=False) as kp:
                # Landmark motion relative to the source frame (frame 0, whose keypoints are the source's):
                # keypoint motion follows landmark motion, and the absolute values would only identify the clip.
                # Gaze likewise, relative to the source frame's.
                self.clips.append({"landmarks": lms - lms[:1], "gaze": arr["gaze"] - arr["gaze"][:1],
                                   "mfcc": arr["mfcc"], "emotion": arr["emotion"],
                                   "driving": kp["driving"].astype(np.float32), "source": kp["source"].astype(np.float32)})
        if not self.clips:
            raise ValueError(f"no {split} clips with keypoints in {keypoint_dir} (run `spacex keypoints` first)")


class L2LTask(SequenceTask):
    name = "l2l"
    network = Landmarks2Latents

    def __init__(self, cfg: Config):
        kp_dir = Path(cfg.fv2v.keypoints)
        train = L2LData(cfg.preprocess.out, kp_dir, "train")
        self.use_data(cfg.l2l, train, L2LData(cfg.preprocess.out, kp_dir, "val"), [c["mfcc"] for c in train.clips],
                      num_kp=train.clips[0]["source"].shape[0])  # the renderer's keypoint count

    def batch(self, step, rank, world, generator) -> dict:
        clips = self.train_data.clips
        items = sample_windows([len(c["driving"]) for c in clips], self.cfg.train.batch_size, self.cfg.window,
                               rank, world, generator)
        out = {k: [] for k in ("landmarks", "gaze", "mfcc", "source", "emotion", "target", "mask")}
        for k, idx, m, _ in items:
            c = clips[k]
            out["landmarks"].append(c["landmarks"][idx])
            out["gaze"].append(c["gaze"][idx])
            out["mfcc"].append(c["mfcc"][idx])
            out["source"].append(c["source"])
            out["emotion"].append(c["emotion"])
            out["target"].append(c["driving"][idx])
            out["mask"].append(m)
        return {k: torch.from_numpy(np.stack(v)) for k, v in out.items()}

    def loss(self, model, batch):
        pred, _ = model(batch["landmarks"], batch["mfcc"], batch["source"], batch["emotion"],
                        gaze=batch["gaze"])  # (B, W, K, 3)
        mask = batch["mask"][:, :, None, None]
        loss = ((pred - batch["target"]).abs() * mask).sum() / (mask.sum() * pred.shape[2] * 3)
        return loss, {}

    def validate(self, model, device) -> dict:
        err = base = 0.0
        n = 0
        for c in self.val_data.clips:
            t = lambda x: torch.from_numpy(x[None]).to(device)  # noqa: E731
            pred, _ = model(t(c["landmarks"]), t(c["mfcc"]), t(c["source"]), t(c["emotion"]), gaze=t(c["gaze"]))
            target = t(c["driving"])
            err += float((pred - target).abs().mean()) * len(c["driving"])
            base += float((t(c["source"])[:, None] - target).abs().mean()) * len(c["driving"])
            n += len(c["driving"])
        return {"kp_l1": err / n, "baseline_source_kp_l1": base / n}


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    run_config = {"profile": cfg.profile, "l2l": as_dict(cfg.l2l), "store": cfg.preprocess.out,
                  "keypoints": cfg.fv2v.keypoints}
    return run_stage(L2LTask(cfg), cfg.l2l.train, cfg.l2l.out, run_config, stop_after, report_dir,
                     ratios={"kp_l1_vs_baseline": ("kp_l1", "baseline_source_kp_l1")}, project=cfg.wandb.project)
