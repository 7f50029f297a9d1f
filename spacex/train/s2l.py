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
from spacex.preprocess import audio as audiofeat
from spacex.preprocess import store
from spacex.train.sequences import SequenceTask, sample_windows
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


class S2LData:
    """All clips of one split in memory: MFCC variants (V, T, 40), landmarks (T, 68, 3), emotion (E,)."""

    def __init__(self, store_dir: str | Path, split: str, space: str, augment_copies: int = 0, seed: int = 0):
        self.clips = []
        manifest = store.read_manifest(store_dir)
        sr = manifest["settings"]["sample_rate"]
        aug = audiofeat.default_augmentation()
        for k, c in enumerate(manifest["clips"]):
            if c["split"] != split:
                continue
            arr = store.read_clip(store_dir, c["clip_id"])
            meta = store.read_meta(store_dir, c["clip_id"])
            variants = [arr["mfcc"]]
            rng = np.random.default_rng([seed, k])
            for _ in range(augment_copies):
                audio = arr["audio"].astype(np.float32) / 32767
                variants.append(audiofeat.mfcc_per_frame(aug(audio, sr, rng), sr, meta["fps"], len(arr["mfcc"]),
                                                         n_mfcc=arr["mfcc"].shape[1]))
            self.clips.append({"clip_id": c["clip_id"], "identity": meta.get("identity"),
                               "neutral": meta.get("emotion_label") in (None, "", "neutral"),
                               "mfcc": np.stack(variants).astype(np.float32),
                               "landmarks": target_landmarks(arr, space), "emotion": arr["emotion"],
                               "audio": arr["audio"], "fps": meta["fps"], "sample_rate": sr})
        if not self.clips:
            raise ValueError(f"no {split} clips in {store_dir}")

    def source_pool(self, k: int, mode: str) -> list[int]:
        """Clips whose frames may play the photo for clip k (see S2LConfig.source)."""
        if mode == "clip":
            return [k]
        if mode != "neutral":
            raise ValueError(f"unknown s2l.source {mode!r} (neutral | clip)")
        ident = self.clips[k]["identity"]
        same = [j for j, c in enumerate(self.clips) if ident is not None and c["identity"] == ident]
        neutral = [j for j in same if self.clips[j]["neutral"]]
        return neutral or [j for j in same if j != k] or [k]

    def photo(self, k: int, mode: str) -> np.ndarray:
        """The fixed photo for validating clip k: the first frame of the first clip of its pool, (1, 68, 3)."""
        return self.clips[self.source_pool(k, mode)[0]]["landmarks"][:1]


class S2LTask(SequenceTask):
    name = "s2l"
    network = Speech2Landmarks

    def __init__(self, cfg: Config):
        s = cfg.s2l
        train = S2LData(cfg.preprocess.out, "train", s.space, s.augment_copies, s.train.seed)
        # MFCC statistics of the clean copy (index 0; the others are augmented variants)
        self.use_data(s, train, S2LData(cfg.preprocess.out, "val", s.space), [c["mfcc"][0] for c in train.clips])
        self.pools = [train.source_pool(k, s.source) for k in range(len(train.clips))]
        w = np.ones((68, 3), np.float32)
        w[lm.MOUTH, 1] = self.cfg.mouth_y_weight
        self.weight = torch.from_numpy(w / w.mean())

    def batch(self, step: int, rank: int, world: int, generator: torch.Generator) -> dict:
        clips = self.train_data.clips
        items = sample_windows([len(c["landmarks"]) for c in clips], self.cfg.train.batch_size, self.cfg.window,
                               rank, world, generator)
        mf, tg, src, emo, mask = [], [], [], [], []
        for k, idx, m, u in items:
            c = clips[k]
            mf.append(c["mfcc"][int(u[1] * len(c["mfcc"])) % len(c["mfcc"])][idx])  # an augmentation variant
            tg.append(c["landmarks"][idx])
            pool = self.pools[k]
            s = clips[pool[int(u[0] * len(pool)) % len(pool)]]["landmarks"]
            src.append(s[int(u[0] * len(pool) * len(s)) % len(s)])  # a frame of a pool clip plays the photo
            emo.append(c["emotion"])
            mask.append(m)
        return {"mfcc": torch.from_numpy(np.stack(mf)), "target": torch.from_numpy(np.stack(tg)),
                "source": torch.from_numpy(np.stack(src)), "emotion": torch.from_numpy(np.stack(emo)),
                "mask": torch.from_numpy(np.stack(mask))}

    def loss(self, model, batch) -> tuple[torch.Tensor, dict]:
        pred, _ = model(batch["mfcc"], batch["source"], batch["emotion"])  # (B, W, 68, 3)
        err = (pred - batch["target"]).abs() * self.weight.to(pred.device)  # (B, W, 68, 3)
        mask = batch["mask"][:, :, None, None]
        loss = (err * mask).sum() / (mask.sum() * 68 * 3)
        mouth = ((pred - batch["target"])[..., lm.MOUTH, :2].norm(dim=-1) * batch["mask"][..., None]).sum()
        return loss, {"mouth_lmd": float(mouth.detach() / (batch["mask"].sum() * len(lm.MOUTH)))}

    def validate(self, model, device) -> dict:
        return evaluate(model, self.val_data, device, self.cfg.source)

    def samples(self, model, device, out: Path) -> dict[str, Path]:
        """A val clip: true vs predicted landmarks as a video with its sound, and the mouth-opening trace."""
        from spacex.train import samples

        c = self.val_data.clips[0]
        photo = self.val_data.photo(0, self.cfg.source)
        pred, _ = model(torch.from_numpy(c["mfcc"][0][None]).to(device), torch.from_numpy(photo).to(device),
                        torch.from_numpy(c["emotion"][None]).to(device))
        pred = pred[0].float().cpu().numpy()
        frames = samples.landmark_frames(c["landmarks"], pred)
        return {"landmarks": samples.video_with_audio(out / f"{c['clip_id']}_true_vs_pred.mp4", frames, c["fps"],
                                                      c["audio"], c["sample_rate"]),
                "mouth_trace": samples.mouth_trace(out / f"{c['clip_id']}_mouth.png", pred, c["landmarks"], c["fps"])}


def evaluate(model: Speech2Landmarks, data: S2LData, device, source_mode: str = "clip") -> dict:
    """LMD (2D, units of ear distance) of the model and of 'repeat the source landmarks' on whole clips; the
    photo is chosen as in training (`S2LData.photo`)."""
    sums = {k: 0.0 for k in ("mouth_lmd", "face_lmd", "baseline_mouth_lmd", "baseline_face_lmd")}
    frames, corrs = 0, []
    for k, c in enumerate(data.clips):
        target = torch.from_numpy(c["landmarks"]).to(device)  # (T, 68, 3)
        source = torch.from_numpy(data.photo(k, source_mode)).to(device)  # (1, 68, 3)
        pred, _ = model(torch.from_numpy(c["mfcc"][0][None]).to(device), source,
                        torch.from_numpy(c["emotion"][None]).to(device))
        pred = pred[0].float()
        for name, p in (("", pred), ("baseline_", source.expand_as(target))):
            d = (p - target)[..., :2].norm(dim=-1)  # (T, 68)
            sums[f"{name}mouth_lmd"] += float(d[:, lm.MOUTH].mean(1).sum())
            sums[f"{name}face_lmd"] += float(d.mean(1).sum())
        frames += len(target)
        po, to = lm.mouth_opening(pred.cpu().numpy()), lm.mouth_opening(target.cpu().numpy())
        if po.std() > 1e-8 and to.std() > 1e-8:
            corrs.append(float(np.corrcoef(po, to)[0, 1]))
    out = {k: v / frames for k, v in sums.items()}
    out["mouth_open_corr"] = float(np.mean(corrs)) if corrs else 0.0
    return out


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    run_config = {"profile": cfg.profile, "s2l": as_dict(cfg.s2l), "store": cfg.preprocess.out}
    return run_stage(S2LTask(cfg), cfg.s2l.train, cfg.s2l.out, run_config, stop_after, report_dir,
                     ratios={"mouth_lmd_vs_baseline": ("mouth_lmd", "baseline_mouth_lmd")}, project=cfg.wandb.project)
