"""Train Landmarks2Latents on (posed landmarks, audio) -> face-vid2vid keypoint pairs.

    spacex train l2l [--profile smoke]      (after fv2v, which extracts the keypoints)

Inputs per frame: the frame's posed landmarks relative to the clip's crop box (the frame face-vid2vid sees),
as motion from the source frame's landmarks,
MFCCs, the gaze motion from the source frame's (spacex.gaze), the source keypoints (frame 0's), the emotion vector; target: that frame's driving keypoints from the
trained face-vid2vid. Validation: keypoint L1 on val clips against the trivial baseline "source keypoints".

Train/test consistency (`l2l.s2l_inputs`): at inference L2L's landmarks are Speech2Landmarks' predictions, smoother
and less articulated than the detected ones it would otherwise train on. A fraction of training windows can take
the trained S2L's prediction for the window (photo: the clip's frame 0, as the animate stage's photo is the clip's
first frame; the window's MFCCs and emotion) posed with the frames' true head pose, its eyes replaced by the
detected ones (S2L's eyes never close; at inference the blink control closes them, here the frames' own blinks
do, as in the target keypoints). When an S2L run exists, validation also scores each val clip with S2L's
whole-clip prediction as input (`kp_l1_s2l`): the error inference sees, before the head pose and blinks are
predicted too. S2L predicts a training window from its own frames alone (no neighbouring audio, a fresh LSTM
state), as S2L itself was trained; validation runs whole clips.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacex import checkpoint
from spacex import landmarks as lm
from spacex.config import Config, as_dict
from spacex.errors import ConfigError
from spacex.models.l2l import Landmarks2Latents
from spacex.models.s2l import Speech2Landmarks
from spacex.preprocess import store
from spacex.preprocess.pose import Pose, pose
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

    def inputs(self, c: dict, rows=None, predicted: np.ndarray | None = None) -> dict:
        """Landmark motion (W, 68, 3) and gaze motion (W, 2) relative to the source frame (frame 0, whose keypoints
        are the source's): keypoint motion follows landmark motion, and absolute values would only identify the
        clip; landmarks crop-relative, ~[-1, 1] (the frame face-vid2vid sees). `predicted`: normalized landmarks
        (W, 68, 3) of these frames (S2L's) to use instead of the detected ones, posed with the frames' head pose;
        frame 0 stays the detected one (at inference: the photo's)."""
        rows = np.arange(c["n_frames"]) if rows is None else np.asarray(rows)
        both = np.concatenate([[0], rows])
        if predicted is None:
            image = self.get(c, "landmarks", both)
        else:
            fit = Pose(self.get(c, "rotation", rows), self.get(c, "translation", rows), self.get(c, "scale", rows))
            image = np.concatenate([self.get(c, "landmarks", [0]), pose(predicted, fit)]).astype(np.float32)
        lms = target_landmarks({"landmarks": image, "crop_box": self.get(c, "crop_box")}, "raw") * 2
        gaze = self.get(c, "gaze", both)
        return {"landmarks": lms[1:] - lms[:1], "gaze": gaze[1:] - gaze[:1], "emotion": self.get(c, "emotion", rows)}

    def predict_landmarks(self, s2l: Speech2Landmarks, c: dict, rows=None, mfcc: np.ndarray | None = None) -> np.ndarray:
        """S2L's normalized landmarks (W, 68, 3) for these frames from their MFCCs (default: the store's), with the
        clip's frame 0 as the photo and the frames' emotion."""
        mfcc = self.get(c, "mfcc", rows) if mfcc is None else mfcc
        photo = self.get(c, "landmarks_norm", [0]).astype(np.float32)  # (1, 68, 3)
        with torch.no_grad():
            pred, _ = s2l(torch.from_numpy(np.ascontiguousarray(mfcc)[None]), torch.from_numpy(photo),
                          torch.from_numpy(self.get(c, "emotion", rows)[None]))
        pred = pred[0].numpy().copy()  # (W, 68, 3)
        eyes = lm.EYE_R + lm.EYE_L
        pred[:, eyes] = self.get(c, "landmarks_norm", rows)[:, eyes]  # blinks as the frames show them
        return pred

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
        if not 0 <= cfg.l2l.s2l_inputs <= 1:
            raise ConfigError(f"l2l.s2l_inputs is a fraction of windows in [0, 1], got {cfg.l2l.s2l_inputs}")
        self.s2l, self.s2l_step = self._load_s2l(Path(cfg.s2l.out) / "last.pt", cfg.l2l.s2l_inputs > 0,
                                                 store.features(cfg.preprocess.out))

    @staticmethod
    def _load_s2l(path: Path, needed: bool, features: dict) -> tuple[Speech2Landmarks | None, int | None]:
        """The trained S2L (fp32, eval) whose predictions L2L trains on and is validated with, and its step; (None,
        None) when there is none. It must have been trained on this store's features (MFCCs, emotion order)."""
        if not path.exists():
            if needed:
                raise FileNotFoundError(f"l2l.s2l_inputs > 0 needs a trained Speech2Landmarks: {path} is missing "
                                        "(run `spacex train s2l` first, or set l2l.s2l_inputs: 0)")
            return None, None
        model, ckpt = checkpoint.load_model(path, Speech2Landmarks)
        theirs = ckpt.get("features") or {}
        differ = sorted(k for k in features if k in theirs and theirs[k] != features[k])
        if differ:
            raise ConfigError(f"{path} was trained on other features than this store's ({', '.join(differ)}): "
                              "retrain S2L on it (spacex train s2l) or point s2l.out elsewhere")
        return model.float(), ckpt.get("step")

    def plan(self, step, rank, world, generator) -> list:
        """Per item: (clip, frames (W,), mask (W,), augmentation seed or None, S2L's landmarks or the detected)."""
        return [(k, idx, m, augment_seed(self.cfg.train.seed, step, b, u[0], self.cfg.audio_augment),
                 bool(u[1] < self.cfg.s2l_inputs))
                for b, k, idx, m, u in sample_windows(self.train_data, self.cfg.train.batch_size, self.cfg.window,
                                                      rank, world, generator)]

    def item(self, planned) -> dict:
        k, idx, m, aug, from_s2l = planned
        data = self.train_data
        c = data.clips[k]
        target, source = data.keypoints(c, idx)
        mfcc = data.mfcc(c, idx, aug)
        predicted = data.predict_landmarks(self.s2l, c, idx, mfcc) if from_s2l else None
        return {**data.inputs(c, idx, predicted), "mfcc": mfcc, "source": source, "target": target, "mask": m}

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
        driving, source = data.keypoints(c)
        target, mfcc = t(driving), data.mfcc(c)

        def error(x: dict) -> float:
            pred, _ = model(t(x["landmarks"]), t(mfcc), t(source), t(x["emotion"]), gaze=t(x["gaze"]))
            return float((pred - target).abs().mean()) * len(driving)

        sums = {"err": error(data.inputs(c)),
                "base": float((t(source)[:, None] - target).abs().mean()) * len(driving), "frames": float(len(driving))}
        if self.s2l is not None:  # the landmarks inference gives it
            sums["err_s2l"] = error(data.inputs(c, predicted=data.predict_landmarks(self.s2l, c, mfcc=mfcc)))
        return sums

    def summarize(self, sums) -> dict:
        out = {"kp_l1": sums["err"] / sums["frames"], "baseline_source_kp_l1": sums["base"] / sums["frames"]}
        if "err_s2l" in sums:
            out["kp_l1_s2l"] = sums["err_s2l"] / sums["frames"]
        return out


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    task = L2LTask(cfg)
    run_config = {"profile": cfg.profile, "l2l": as_dict(cfg.l2l), "store": cfg.preprocess.out,
                  "keypoints": cfg.fv2v.keypoints,
                  "s2l": None if task.s2l is None else {"checkpoint": str(Path(cfg.s2l.out) / "last.pt"),
                                                        "step": task.s2l_step}}
    ratios = {"kp_l1_vs_baseline": ("kp_l1", "baseline_source_kp_l1")}
    if task.s2l is not None:
        ratios["kp_l1_s2l_vs_baseline"] = ("kp_l1_s2l", "baseline_source_kp_l1")
    return run_stage(task, cfg.l2l.train, cfg.l2l.out, run_config, stop_after, report_dir, ratios=ratios,
                     project=cfg.wandb.project)
