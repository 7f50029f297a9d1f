"""Train Speech2Landmarks on the preprocessed store.

    spacex train s2l [--profile smoke]
    torchrun --nproc_per_node 8 -m spacex.cli train s2l --profile paper

Samples: a random window of a training clip; the "photo" is a random frame of the same clip (at inference
it is the portrait); the target is every frame's landmarks in the normalized space (or, for the paper's
ablation, crop-relative image landmarks: `s2l.space: raw`). Loss: L1 with extra weight on the vertical
coordinate of the mouth points. Validation: whole val clips from their first frame, mouth and face landmark
distance (LMD, in units of the ear-to-ear distance) against the trivial baseline "repeat the source
landmarks", and the correlation of predicted with true mouth opening.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacex import landmarks as lm
from spacex.config import Config, as_dict
from spacex.models.s2l import Speech2Landmarks
from spacex.train.sequences import SequenceData, SequenceTask, augment_seed, sample_windows
from spacex.train.trainer import run_stage


def target_landmarks(arr: dict, space: str) -> np.ndarray:
    """(T, 68, 3) in the space S2L learns: normalized, or crop-relative image coordinates (ablation)."""
    if space == "normalized":
        return arr["landmarks_norm"].astype(np.float32)
    if space == "raw":
        x0, y0, x1, y1 = arr["crop_box"]
        side = max(x1 - x0, 1e-6)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0], np.float32)
        return ((arr["landmarks"] - centre) / side).astype(np.float32)
    raise ValueError(f"unknown landmark space {space!r} (normalized | raw)")


class S2LData(SequenceData):
    """The clips of one split, read from the pack: MFCCs (T, n_mfcc), landmarks (T, 68, 3) in the learned space,
    emotion (E,); which clips may play the photo."""

    def __init__(self, pack_dir: str | Path, split: str, space: str, emotion_dir: str | Path | None = None):
        if space not in ("normalized", "raw"):
            raise ValueError(f"unknown landmark space {space!r} (normalized | raw)")
        super().__init__(pack_dir, split, emotion_dir)
        self.space = space

    def landmarks(self, c: dict, rows=None) -> np.ndarray:
        key = "landmarks_norm" if self.space == "normalized" else "landmarks"
        return target_landmarks({key: self.get(c, key, rows), "crop_box": self.get(c, "crop_box")}, self.space)

    def source_pool(self, k: int, mode: str) -> list[int]:
        """Clips whose frames may play the photo for clip k (see S2LConfig.source)."""
        if mode == "clip":
            return [k]
        if mode != "neutral":
            raise ValueError(f"unknown s2l.source {mode!r} (neutral | clip)")
        ident = self.clips[k]["identity"]
        same = [j for j, c in enumerate(self.clips) if ident is not None and c["identity"] == ident]
        neutral = [j for j in same if self.clips[j]["emotion_label"] in (None, "", "neutral")]
        return neutral or [j for j in same if j != k] or [k]

    def photo_clip(self, k: int, mode: str) -> dict:
        """The clip whose first frame is the fixed photo for validating clip k: the first of its pool."""
        return self.clips[self.source_pool(k, mode)[0]]

    def photo(self, k: int, mode: str) -> np.ndarray:
        """The fixed photo for validating clip k, (1, 68, 3)."""
        return self.landmarks(self.photo_clip(k, mode), [0])


class S2LTask(SequenceTask):
    name = "s2l"
    network = Speech2Landmarks

    def __init__(self, cfg: Config):
        s = cfg.s2l
        train = S2LData(cfg.pack.out, "train", s.space, cfg.emotion.predictions)
        self.use_data(s, train, S2LData(cfg.pack.out, "val", s.space, cfg.emotion.predictions))
        self.pools = [train.source_pool(k, s.source) for k in range(len(train.clips))]
        w = np.ones((68, 3), np.float32)
        w[lm.MOUTH, 1] = self.cfg.mouth_y_weight
        self.weight = torch.from_numpy(w / w.mean())

    def plan(self, step: int, rank: int, world: int, generator: torch.Generator) -> list:
        """Per item: (clip, frames (W,), mask (W,), photo clip, photo frame, augmentation seed or None)."""
        data = self.train_data
        items = []
        for b, k, idx, m, u in sample_windows(data, self.cfg.train.batch_size,
                                              self.cfg.window, rank, world, generator):
            pool = self.pools[k]
            j = pool[int(u[0] * len(pool)) % len(pool)]  # a frame of a pool clip plays the photo
            f = int(u[0] * len(pool) * data.clips[j]["n_frames"]) % data.clips[j]["n_frames"]
            items.append((k, idx, m, j, f, augment_seed(self.cfg.train.seed, step, b, u[1], self.cfg.audio_augment)))
        return items

    def item(self, planned) -> dict:
        k, idx, m, j, f, aug = planned
        data = self.train_data
        c = data.clips[k]
        return {"mfcc": data.mfcc(c, idx, aug), "target": data.landmarks(c, idx),
                "source": data.landmarks(data.clips[j], [f])[0], "emotion": data.get(c, "emotion", idx), "mask": m}

    def loss(self, model, batch) -> tuple[torch.Tensor, dict]:
        pred, _ = model(batch["mfcc"], batch["source"], batch["emotion"])  # (B, W, 68, 3)
        err = (pred - batch["target"]).abs() * self.weight.to(pred.device)  # (B, W, 68, 3)
        mask = batch["mask"][:, :, None, None]
        loss = (err * mask).sum() / (mask.sum() * 68 * 3)
        mouth = ((pred - batch["target"])[..., lm.MOUTH, :2].norm(dim=-1) * batch["mask"][..., None]).sum()
        return loss, {"mouth_lmd": float(mouth.detach() / (batch["mask"].sum() * len(lm.MOUTH)))}

    def val_items(self) -> int:
        return len(self.val_data.clips)

    def validate_item(self, model, device, k) -> dict:
        return clip_errors(model, self.val_data, device, k, self.cfg.source)

    def summarize(self, sums) -> dict:
        return summarize_errors(sums)

    def samples(self, model, device, out: Path) -> dict[str, Path]:
        """A val clip: true vs predicted landmarks as a video with its sound, and the mouth-opening trace."""
        from spacex.train import samples

        data = self.val_data
        c = data.clips[0]
        photo, truth = data.photo(0, self.cfg.source), data.landmarks(c)
        pred, _ = model(torch.from_numpy(data.mfcc(c)[None]).to(device), torch.from_numpy(photo).to(device),
                        torch.from_numpy(data.get(c, "emotion")[None]).to(device))
        pred = pred[0].float().cpu().numpy()
        frames = samples.landmark_frames(truth, pred)
        return {"landmarks": samples.video_with_audio(out / f"{c['clip_id']}_true_vs_pred.mp4", frames, c["fps"],
                                                      data.get(c, "audio"), data.pack.sample_rate),
                "mouth_trace": samples.mouth_trace(out / f"{c['clip_id']}_mouth.png", pred, truth, c["fps"])}


def clip_errors(model: Speech2Landmarks, data: S2LData, device, k: int, source_mode: str = "clip") -> dict:
    """Clip k's LMD sums over frames (2D, units of ear distance) of the model and of 'repeat the source landmarks',
    and its mouth-opening correlation; the photo is chosen as in training (`S2LData.photo`)."""
    c = data.clips[k]
    target = torch.from_numpy(data.landmarks(c)).to(device)  # (T, 68, 3)
    source = torch.from_numpy(data.photo(k, source_mode)).to(device)  # (1, 68, 3)
    pred, _ = model(torch.from_numpy(data.mfcc(c)[None]).to(device), source,
                    torch.from_numpy(data.get(c, "emotion")[None]).to(device))
    pred = pred[0].float()
    sums = {"frames": float(len(target)), "corr": 0.0, "corr_clips": 0.0}
    for name, p in (("", pred), ("baseline_", source.expand_as(target))):
        sums.update({f"{name}{key}": v for key, v in lmd_sums(p, target).items()})
    po, to = lm.mouth_opening(pred.cpu().numpy()), lm.mouth_opening(target.cpu().numpy())
    if po.std() > 1e-8 and to.std() > 1e-8:
        sums.update(corr=float(np.corrcoef(po, to)[0, 1]), corr_clips=1.0)
    return sums


def lmd_sums(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mouth and face LMD of (T, 68, 2 or 3) landmarks, summed over frames: per frame the mean 2D distance over the
    mouth's points and over all 68 (units of the landmark space)."""
    d = (pred[..., :2] - target[..., :2]).norm(dim=-1)  # (T, 68)
    return {"mouth_lmd": float(d[:, lm.MOUTH].mean(1).sum()), "face_lmd": float(d.mean(1).sum())}


def summarize_errors(sums: dict) -> dict:
    """Per-frame LMDs and the mean mouth-opening correlation over clips, from clip_errors' totals."""
    out = {k: sums[k] / sums["frames"] for k in ("mouth_lmd", "face_lmd", "baseline_mouth_lmd", "baseline_face_lmd")}
    out["mouth_open_corr"] = sums["corr"] / sums["corr_clips"] if sums["corr_clips"] else 0.0
    return out


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    run_config = {"profile": cfg.profile, "s2l": as_dict(cfg.s2l), "store": cfg.preprocess.out}
    return run_stage(S2LTask(cfg), cfg.s2l.train, cfg.s2l.out, run_config, stop_after, report_dir,
                     ratios={"mouth_lmd_vs_baseline": ("mouth_lmd", "baseline_mouth_lmd")}, project=cfg.wandb.project)
