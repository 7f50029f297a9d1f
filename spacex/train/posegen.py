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
from spacex.preprocess import store
from spacex.train.sequences import SequenceTask, sample_windows
from spacex.train.trainer import run_stage


class PoseData:
    def __init__(self, store_dir: str | Path, split: str):
        self.clips = []
        for c in store.read_manifest(store_dir)["clips"]:
            if c["split"] == split:
                a = store.read_clip(store_dir, c["clip_id"])
                self.clips.append({"mfcc": a["mfcc"], "emotion": a["emotion"],
                                   "rotation": a["rotation"], "translation": a["translation"], "scale": a["scale"]})
        if not self.clips:
            raise ValueError(f"no {split} clips in {store_dir}")


class PoseGenTask(SequenceTask):
    name = "posegen"
    network = PoseGen

    def __init__(self, cfg: Config):
        train = PoseData(cfg.preprocess.out, "train")
        self.use_data(cfg.posegen, train, PoseData(cfg.preprocess.out, "val"), [c["mfcc"] for c in train.clips])

    def batch(self, step, rank, world, generator) -> dict:
        clips = self.train_data.clips
        items = sample_windows([len(c["mfcc"]) for c in clips], self.cfg.train.batch_size, self.cfg.window,
                               rank, world, generator)
        z = torch.randn(self.cfg.train.batch_size, self.cfg.samples, self.args.noise_dim, generator=generator)
        mf, tg, emo = [], [], []
        for k, idx, _, _ in items:
            c = clips[k]
            mf.append(c["mfcc"][idx])
            tg.append(pose_features(c["rotation"][idx], c["translation"][idx], c["scale"][idx]))
            emo.append(c["emotion"])
        return {"mfcc": torch.from_numpy(np.stack(mf)), "target": torch.from_numpy(np.stack(tg)),
                "emotion": torch.from_numpy(np.stack(emo)), "z": z[rank::world]}

    def loss(self, model, batch):
        K = batch["z"].shape[1]
        preds = torch.stack([model(batch["mfcc"], batch["emotion"], batch["z"][:, k]) for k in range(K)], 1)  # (B, K, W, 6)
        err = (preds - batch["target"][:, None]).abs().mean((2, 3))  # (B, K)
        best = err.argmin(1)
        chosen = preds[torch.arange(len(best)), best]  # (B, W, 6)
        vel = ((chosen[:, 1:] - chosen[:, :-1]) - (batch["target"][:, 1:] - batch["target"][:, :-1])).abs().mean()
        loss = err.min(1).values.mean() + self.cfg.velocity_weight * vel
        return loss, {"best_of_k": float(err.min(1).values.mean().detach()), "mean_of_k": float(err.mean().detach())}

    def validate(self, model, device):
        g = torch.Generator().manual_seed(1234)
        best, mean, still, spread, n = 0.0, 0.0, 0.0, 0.0, 0
        vel_fake, vel_real = [], []
        for c in self.val_data.clips:
            target = torch.from_numpy(pose_features(c["rotation"], c["translation"], c["scale"])).to(device)
            s = model.sample(torch.from_numpy(c["mfcc"][None]).to(device), torch.from_numpy(c["emotion"][None]).to(device),
                             n=self.cfg.samples, generator=g)[:, 0]  # (K, T, 6)
            err = (s - target[None]).abs().mean((1, 2))  # (K,)
            T = len(target)
            best += float(err.min()) * T
            mean += float(err.mean()) * T
            still += float(target.abs().mean()) * T
            spread += float(s.std(0).mean()) * T
            n += T
            vel_fake.append((s[:, 1:] - s[:, :-1]).flatten(0, 1).cpu())
            vel_real.append((target[1:] - target[:-1]).cpu())
        # Motion realism: how much the samples move compared with real heads (1 = as much; still head = 0).
        ratio = torch.cat(vel_fake).std(0) / (torch.cat(vel_real).std(0) + 1e-8)  # (6,)
        return {"best_of_k_l1": best / n, "mean_of_k_l1": mean / n, "baseline_still_l1": still / n,
                "sample_spread": spread / n, "motion_ratio_rotation": float(ratio[:3].mean()),
                "motion_ratio_translation": float(ratio[3:5].mean())}


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    run_config = {"profile": cfg.profile, "posegen": as_dict(cfg.posegen), "store": cfg.preprocess.out}
    return run_stage(PoseGenTask(cfg), cfg.posegen.train, cfg.posegen.out, run_config, stop_after, report_dir,
                     project=cfg.wandb.project)
