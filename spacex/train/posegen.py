"""Train PoseGen (head pose from speech) on the preprocessed store.

    spacex train posegen [--profile smoke]

Targets: the store's per-frame pose, relative to the window's first frame (`pose_features`). Loss: best-of-K
L1 (K noise draws per sequence, only the closest is penalized: samples cover the modes) plus an L1 on
frame-to-frame velocity of the best sample. Validation on whole val clips: best-of-K and mean-of-K error
against the trivial baseline "the head does not move", the spread between samples (diversity), and the
motion ratio: frame-to-frame motion of samples over that of real heads (1 is realistic; a still head is 0).
Head motion is mostly not determined by the audio, so the L1 errors need not beat the still baseline; the
motion ratio is what a still head cannot fake.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacex.config import Config, as_dict
from spacex.models.posegen import PoseGen, pose_features
from spacex.train.sequences import SequenceData, SequenceTask, augment_seed, sample_windows
from spacex.train.trainer import run_stage


class PoseData(SequenceData):
    """The clips of one split, read when used: MFCCs, emotion, and pose features (spacex.models.posegen)."""

    def pose(self, c: dict, rows=None) -> np.ndarray:
        return pose_features(*(self.get(c, k, rows) for k in ("rotation", "translation", "scale")))


class PoseGenTask(SequenceTask):
    name = "posegen"
    network = PoseGen

    def __init__(self, cfg: Config):
        self.use_data(cfg.posegen, PoseData(cfg.pack.out, "train", cfg.emotion.predictions),
                      PoseData(cfg.pack.out, "val", cfg.emotion.predictions))

    def plan(self, step, rank, world, generator) -> list:
        """Per item: (clip, frames (W,), the K noise draws (K, noise_dim), augmentation seed or None)."""
        items = sample_windows(self.train_data, self.cfg.train.batch_size,
                               self.cfg.window, rank, world, generator)
        z = torch.randn(self.cfg.train.batch_size, self.cfg.samples, self.args.noise_dim, generator=generator)
        return [(k, idx, z[b], augment_seed(self.cfg.train.seed, step, b, u[0], self.cfg.audio_augment))
                for b, k, idx, _, u in items]

    def item(self, planned) -> dict:
        k, idx, z, aug = planned
        data = self.train_data
        c = data.clips[k]
        return {"mfcc": data.mfcc(c, idx, aug), "target": data.pose(c, idx), "emotion": data.get(c, "emotion", idx), "z": z}

    def loss(self, model, batch):
        K = batch["z"].shape[1]
        preds = torch.stack([model(batch["mfcc"], batch["emotion"], batch["z"][:, k]) for k in range(K)], 1)  # (B, K, W, 6)
        err = (preds - batch["target"][:, None]).abs().mean((2, 3))  # (B, K)
        best = err.argmin(1)
        chosen = preds[torch.arange(len(best)), best]  # (B, W, 6)
        vel = ((chosen[:, 1:] - chosen[:, :-1]) - (batch["target"][:, 1:] - batch["target"][:, :-1])).abs().mean()
        loss = err.min(1).values.mean() + self.cfg.velocity_weight * vel
        return loss, {"best_of_k": float(err.min(1).values.mean().detach()), "mean_of_k": float(err.mean().detach())}

    def val_items(self) -> int:
        return len(self.val_data.clips)

    def validate_item(self, model, device, k) -> dict:
        """Clip k's error sums over frames and its velocity moments (sum, sum of squares, count per pose channel),
        with noise from a generator of its own (the same draws on any rank)."""
        data = self.val_data
        c = data.clips[k]
        g = torch.Generator().manual_seed(1234 + k)
        target = torch.from_numpy(data.pose(c)).to(device)
        s = model.sample(torch.from_numpy(data.mfcc(c)[None]).to(device),
                         torch.from_numpy(data.get(c, "emotion")[None]).to(device),
                         n=self.cfg.samples, generator=g)[:, 0]  # (K, T, 6)
        err = (s - target[None]).abs().mean((1, 2))  # (K,)
        T = len(target)
        sums = {"best": float(err.min()) * T, "mean": float(err.mean()) * T, "still": float(target.abs().mean()) * T,
                "spread": float(s.std(0).mean()) * T, "frames": float(T)}
        for name, v in (("fake", (s[:, 1:] - s[:, :-1]).flatten(0, 1)), ("real", target[1:] - target[:-1])):
            v = v.double().cpu()
            sums |= {f"{name}_n": float(len(v)), **{f"{name}_s{j}": float(v[:, j].sum()) for j in range(6)},
                     **{f"{name}_q{j}": float((v[:, j] ** 2).sum()) for j in range(6)}}
        return sums

    def summarize(self, sums) -> dict:
        def std(name):  # (6,) sample standard deviation of a velocity channel over all clips' frames
            n = sums[f"{name}_n"]
            return np.array([max(sums[f"{name}_q{j}"] - sums[f"{name}_s{j}"] ** 2 / n, 0) / (n - 1)
                             for j in range(6)]) ** 0.5

        # Motion realism: how much the samples move compared with real heads (1 = as much; still head = 0).
        ratio = std("fake") / (std("real") + 1e-8)  # (6,)
        n = sums["frames"]
        return {"best_of_k_l1": sums["best"] / n, "mean_of_k_l1": sums["mean"] / n,
                "baseline_still_l1": sums["still"] / n, "sample_spread": sums["spread"] / n,
                "motion_ratio_rotation": float(ratio[:3].mean()), "motion_ratio_translation": float(ratio[3:5].mean())}


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    run_config = {"profile": cfg.profile, "posegen": as_dict(cfg.posegen), "store": cfg.preprocess.out}
    return run_stage(PoseGenTask(cfg), cfg.posegen.train, cfg.posegen.out, run_config, stop_after, report_dir,
                     project=cfg.wandb.project)
