"""Train the per-frame emotion classifier on the labeled clips, then label the unlabeled ones.

    spacex train emotion [--profile smoke]

METHOD.md: the paper trains on one-hot labels where a dataset has them (MEAD, RAVDESS) and on per-frame
predicted emotion probabilities where it has none (VoxCeleb2). This stage learns those predictions from the
labeled clips of the training split (normalized landmarks + MFCCs per frame, spacex.models.emotion), reports its
accuracy on held-out labeled clips (validation: the training identities' held-out sentences; test: held-out
identities), and writes every unlabeled clip's per-frame vectors (T, E) to `emotion.predictions/<clip>.npy`, with
an `index.json` naming them. The sequence stages (S2L, PoseGen, L2L) read those for unlabeled clips, averaged
over each training window (`SequenceData.predicted_emotion`); labeled clips keep their labels.

Targets: the label's distribution over the vocabulary (a mix keeps its shares) for the softmax, and the largest
intensity for the intensity head (MEAD level 1..3 -> 1/3..1, RAVDESS 0.5 / 1.0).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacex import files
from spacex.config import Config, as_dict
from spacex.models.emotion import EmotionClassifier
from spacex.train.sequences import SequenceData, SequenceTask, sample_windows
from spacex.train.trainer import run_stage, validate


class EmotionTask(SequenceTask):
    name = "emotion"
    network = EmotionClassifier

    def __init__(self, cfg: Config, val_split: str = "val"):
        """`val_split`: the labeled clips validation scores (the stage also scores "test", held-out identities)."""
        pack = cfg.pack.out
        self.use_data(cfg.emotion, SequenceData(pack, "train", labeled_only=True),
                      SequenceData(pack, val_split, labeled_only=True))

    def plan(self, step, rank, world, generator) -> list:
        """Per item: (clip, frames (W,), mask (W,))."""
        return [(k, idx, m) for _, k, idx, m, _ in sample_windows(self.train_data, self.cfg.train.batch_size,
                                                                 self.cfg.window, rank, world, generator)]

    def item(self, planned) -> dict:
        k, idx, m = planned
        data = self.train_data
        c = data.clips[k]
        return {"landmarks": data.get(c, "landmarks_norm", idx), "mfcc": data.get(c, "mfcc", idx),
                "label": data.get(c, "emotion"), "mask": m}

    def loss(self, model, batch):
        logits, intensity = model(batch["landmarks"], batch["mfcc"])  # (B, W, E), (B, W)
        label, mask = batch["label"], batch["mask"]  # (B, E), (B, W)
        share = label / label.sum(-1, keepdim=True).clamp(min=1e-6)  # the label's distribution
        ce = -(share[:, None] * logits.log_softmax(-1)).sum(-1)  # (B, W)
        inten = (intensity - label.max(-1).values[:, None]).abs()  # (B, W)
        loss = ((ce + inten) * mask).sum() / mask.sum()
        acc = ((logits.argmax(-1) == label.argmax(-1)[:, None]).float() * mask).sum() / mask.sum()
        return loss, {"frame_accuracy": float(acc)}

    def val_items(self) -> int:
        return len(self.val_data.clips)

    def validate_item(self, model, device, k) -> dict:
        return clip_scores(model, self.val_data, device, k)

    def summarize(self, sums) -> dict:
        return summarize_scores(sums)


def clip_scores(model: EmotionClassifier, data: SequenceData, device, k: int) -> dict:
    """Labeled clip k: frames whose most likely emotion is the label's, whether the clip's mean is, and the
    intensity error summed over frames."""
    c = data.clips[k]
    label = data.get(c, "emotion")
    vec = per_frame(model, data, c, device)  # (T, E)
    T = len(vec)
    truth = int(label.argmax())
    return {"frames": float(T), "frames_correct": float((vec.argmax(-1) == truth).sum()),
            "clips": 1.0, "clips_correct": float(vec.mean(0).argmax() == truth),
            "intensity_error": float(np.abs(vec.sum(-1) - label.max()).sum())}


def summarize_scores(sums: dict) -> dict:
    return {"frame_accuracy": sums["frames_correct"] / sums["frames"],
            "clip_accuracy": sums["clips_correct"] / sums["clips"],
            "intensity_mae": sums["intensity_error"] / sums["frames"]}


def per_frame(model: EmotionClassifier, data: SequenceData, c: dict, device) -> np.ndarray:
    """(T, E) float32 per-frame emotion vectors of a whole clip."""
    t = lambda x: torch.from_numpy(np.asarray(x)[None]).to(device)  # noqa: E731
    return model.vector(t(data.get(c, "landmarks_norm")), t(data.get(c, "mfcc")))[0].float().cpu().numpy()


def predict_unlabeled(model: EmotionClassifier, cfg: Config, device="cpu") -> dict:
    """Write every unlabeled clip's per-frame vectors to cfg.emotion.predictions; -> the index written."""
    out = Path(cfg.emotion.predictions)
    out.mkdir(parents=True, exist_ok=True)
    from spacex.preprocess.packed import Packed

    pack = Packed(cfg.pack.out)
    data = SequenceData(cfg.pack.out, "train")  # a reader; the clips below come from every split
    done = []
    for c in pack.index["clips"]:
        if c.get("emotion_label"):
            continue
        with files.atomic_path(out / f"{c['clip_id']}.npy") as tmp:
            np.save(tmp, per_frame(model, data, c, device))
        done.append(c["clip_id"])
    for stale in out.glob("*.npy"):  # clips that are labeled now, or gone
        if stale.stem not in done:
            stale.unlink()
    index = {"emotions": list(cfg.preprocess.emotions), "clips": done, "checkpoint": str(Path(cfg.emotion.out) / "last.pt")}
    files.write_json(out / "index.json", index, sort_keys=True)
    return index


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    task = EmotionTask(cfg)
    run_config = {"profile": cfg.profile, "emotion": as_dict(cfg.emotion), "store": cfg.preprocess.out}

    def finish(metrics: dict) -> dict:
        """Held-out identities' accuracy (the test split, when it has labeled clips), chance, and the predictions."""
        from spacex.checkpoint import load_model

        model, _ = load_model(Path(cfg.emotion.out) / "last.pt", EmotionClassifier)
        model.eval()
        extra = {"chance_clip_accuracy": chance(task.train_data, task.val_data)}
        try:
            on_test = EmotionTask(cfg, "test")
        except ValueError:  # no labeled test clip
            on_test = None
        if on_test is not None:
            extra |= {f"test_{k}": v for k, v in validate(on_test, model, torch.device("cpu")).items()}
            extra["test_chance_clip_accuracy"] = chance(on_test.train_data, on_test.val_data)
        extra["unlabeled_clips_predicted"] = len(predict_unlabeled(model, cfg)["clips"])
        return extra

    return run_stage(task, cfg.emotion.train, cfg.emotion.out, run_config, stop_after, report_dir, finish=finish,
                     project=cfg.wandb.project)


def chance(train: SequenceData, held_out: SequenceData) -> float:
    """Clip accuracy of always answering the training split's most frequent label."""
    labels = [int(train.get(c, "emotion").argmax()) for c in train.clips]
    common = max(set(labels), key=labels.count)
    return float(np.mean([int(held_out.get(c, "emotion").argmax()) == common for c in held_out.clips]))
