"""Train face-vid2vid by self-reenactment on the corpus, then extract keypoints for Landmarks2Latents.

    spacex train fv2v [--profile smoke]
    torchrun --nproc_per_node 8 -m spacex.cli train fv2v --profile paper

Frames are cut with the store's stable crop box and resized to `model.resolution`. A sample is two frames of
one clip (source, driving) and the driving frame's head pose as measured by preprocessing (it supervises the
pose estimator in place of an external Hopenet). Validation on val clips: reconstruct every 4th frame from the
first and compare L1 / PSNR with the trivial baseline "copy the source frame".
The trained renderer is then frozen: stage `keypoints` (spacex.train.keypoints) extracts every clip's
keypoints with it for Landmarks2Latents, and the animate stage renders with it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spacex.crop import to_crop_pixels, to_float, to_uint8
from spacex.config import Config, as_dict
from spacex.errors import ConfigError
from spacex.models.fv2v import losses as L
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.preprocess import eyes
from spacex.preprocess.packed import Packed
from spacex.train.loader import draw_clips
from spacex.train.trainer import Task, run_stage


def anchor_targets(landmarks: np.ndarray, iris: np.ndarray, box: np.ndarray, size: int) -> torch.Tensor:
    """Photo-pixel landmarks (T, 68, >=2) and irises (T, 2, 2) -> the anchors' crop positions (T, A, 2) in [-1, 1]
    (losses.ANCHORS; NaN where an iris was not seen), in crop_frames' convention."""
    pts = np.concatenate([landmarks[..., :2], iris], 1)[:, list(L.ANCHORS)]  # (T, A, 2) photo pixels
    return torch.from_numpy(((to_crop_pixels(pts, box, size) + 0.5) / size * 2 - 1).astype(np.float32))


class FrameData:
    """The clips of one split, read from the pack (spacex.preprocess.packed) when used: cropped frames
    (T, 3, S, S) uint8 at size S, head pose (T, 3) and landmark anchors (T, A, 2)."""

    def __init__(self, pack_dir: str | Path, split: str, size: int):
        self.pack, self.size = Packed(pack_dir), size
        self.clips = self.pack.clips(split)
        if not self.clips:
            raise ValueError(f"no {split} clips in {pack_dir}")
        self.weights = self.pack.clip_weights(self.clips)  # None: one corpus, uniform draws
        if size not in self.pack.index["sizes"]:
            self.pack.frames(self.clips[0], size, [0])  # raises, naming the sizes packed

    def frames(self, c: dict, rows=None) -> torch.Tensor:
        return torch.from_numpy(self.pack.frames(c, self.size, rows))

    def anchors(self, c: dict, rows) -> torch.Tensor:
        """(len(rows), A, 2) anchor targets of those frames (anchor_targets is per frame)."""
        return anchor_targets(self.pack.get(c, "landmarks", rows), self.pack.get(c, "iris", rows),
                              self.pack.get(c, "crop_box"), self.size)

    def rotation(self, c: dict, row: int) -> torch.Tensor:
        return torch.from_numpy(self.pack.get(c, "rotation", [row])[0].astype(np.float32))


def shut_frames(data: FrameData, ratio: float) -> list[tuple[int, int]]:
    """(clip index, frame) of every frame of `data` whose eyes are shut: mean EAR below ratio x the clip's open level,
    as the store's blink flags are read (spacex.preprocess.eyes), without their length limit."""
    out = []
    for k, c in enumerate(data.clips):
        flags, _ = eyes.detect_blinks(data.pack.get(c, "eye_openness"), 1.0, ratio, max_seconds=np.inf)
        out += [(k, int(t)) for t in np.flatnonzero(flags)]
    return out


def _color_jitter(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Images (N, 3, S, S) in [0, 1], relative changes r = (brightness, contrast, saturation) -> jittered."""
    if not r.any():
        return x
    x = x * (1 + r[0])
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + r[1]) + mean
    gray = x.mean(1, keepdim=True)
    return ((x - gray) * (1 + r[2]) + gray).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a - b).pow(2).mean())
    return 10 * np.log10(1.0 / max(mse, 1e-10))


class FV2VTask(Task):
    name = "fv2v"
    find_unused_parameters = True

    def __init__(self, cfg: Config):
        self.cfg = cfg.fv2v
        self.args, self.weights = self.cfg.model, self.cfg.loss_weights
        size = self.args.resolution
        if (self.weights.landmark_anchor > 0 or self.weights.region_l1 > 0) and self.args.num_kp < len(L.ANCHORS):
            raise ConfigError(f"fv2v.model.num_kp = {self.args.num_kp}: landmark anchors need at least "
                              f"{len(L.ANCHORS)} keypoints (or set fv2v.loss_weights.landmark_anchor and region_l1 to 0)")
        self.train_data = FrameData(cfg.pack.out, "train", size)
        self.val_data = FrameData(cfg.pack.out, "val", size)
        self.shut = shut_frames(self.train_data, self.cfg.blink_ratio) if self.cfg.blink_focus > 0 else []
        if self.cfg.blink_focus > 0 and not self.shut:
            raise ConfigError(f"fv2v.blink_focus = {self.cfg.blink_focus}, but no training frame has the eyes shut "
                              f"(mean EAR below fv2v.blink_ratio = {self.cfg.blink_ratio} x its clip's open level)")

    def model_args(self) -> dict:
        return self.args.to_dict()

    def build_model(self, **model_args) -> FaceVid2Vid:
        return FaceVid2Vid(**model_args)

    def parameters(self, model):
        return model.generator_parameters()

    def plan(self, step, rank, world, generator) -> list:
        """Per item of this rank: (step, clip, source frame, driving frame, flip, colour jitter (3,))."""
        B = self.cfg.train.batch_size
        clips = self.train_data.clips
        pick = draw_clips(len(clips), B, generator, self.train_data.weights)  # by corpus weight when mixed
        u = torch.rand(B, 2, generator=generator)
        flip = (torch.rand(B, generator=generator) < self.cfg.flip).tolist()
        jitter = (torch.rand(B, 3, generator=generator) * 2 - 1) * self.cfg.color_jitter  # drawn for every item
        focus = self.cfg.blink_focus if step < self.cfg.blink_focus_until * self.cfg.train.steps else 0.0
        shut = torch.rand(B, 2, generator=generator) if focus > 0 else None  # drawn only then: see blink_focus
        items = []
        for b in range(rank, B, world):
            k = pick[b]
            T = clips[k]["n_frames"]
            i, j = (u[b] * T).long().clamp(max=T - 1).tolist()
            if shut is not None and shut[b, 0] < focus:  # the driving frame has the eyes shut; the source any frame
                k, j = self.shut[min(int(shut[b, 1] * len(self.shut)), len(self.shut) - 1)]
                i = min(int(u[b, 0] * clips[k]["n_frames"]), clips[k]["n_frames"] - 1)
            items.append((step, k, i, j, flip[b], jitter[b]))
        return items

    def item(self, planned) -> dict:
        step, k, i, j, flip, jitter = planned
        data = self.train_data
        c = data.clips[k]
        pair = data.frames(c, [i, j])  # (2, 3, S, S) uint8
        anchors, pose = data.anchors(c, [i, j]), data.rotation(c, j)  # (2, A, 2), (3,) yaw pitch roll
        if flip:
            pair = pair.flip(-1)
            anchors = anchors[:, list(L.ANCHOR_MIRROR)] * torch.tensor([-1.0, 1.0])
            pose[[0, 2]] *= -1  # a mirrored head turns and rolls the other way
        pair = _color_jitter(to_float(pair), jitter)
        return {"source": pair[0], "driving": pair[1], "pose": pose, "anchors_source": anchors[0],
                "anchors_driving": anchors[1], "seed": step}

    def loss(self, model, batch):
        g = torch.Generator().manual_seed(int(batch["seed"]))
        return model(batch["source"], batch["driving"], batch["pose"], self.weights, g,
                     batch["anchors_source"], batch["anchors_driving"])

    def extra_modules(self, model):
        return {"discriminator": model.discriminator} if self.weights.gan > 0 else {}

    def extra_optimizers(self, model, cfg):
        if self.weights.gan <= 0:
            return {}
        return {"discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))}

    def extra_update(self, net, batch, optimizers, modules):
        model = net.module if hasattr(net, "module") else net
        opt = optimizers["discriminator"]
        opt.zero_grad(set_to_none=True)
        d = model.discriminator_loss(batch["driving"], model._last_fake, modules["discriminator"])
        d.backward()
        opt.step()
        return {"discriminator": float(d.detach())}

    def val_items(self) -> int:
        return len(self.val_data.clips)

    @torch.no_grad()
    def validate_item(self, model, device, k) -> dict:
        """Every 4th frame of clip k re-enacted from its first: sums of L1 and PSNR, and of copying the source."""
        frames = to_float(self.val_data.frames(self.val_data.clips[k])).to(device)  # (T, 3, S, S)
        source = frames[:1]
        src = model.source_features(source)
        sums = {"l1": 0.0, "psnr": 0.0, "baseline_copy_l1": 0.0, "baseline_copy_psnr": 0.0, "frames": 0.0}
        for j in range(0, len(frames), 4):
            drv = frames[j:j + 1]
            kp_d, _ = model.driving_keypoints(src["kp_canonical"], drv)
            fake = model.render(source, src, kp_d)
            sums["l1"] += float((fake - drv).abs().mean())
            sums["baseline_copy_l1"] += float((source - drv).abs().mean())
            sums["psnr"] += psnr(fake, drv)
            sums["baseline_copy_psnr"] += psnr(source, drv)
            sums["frames"] += 1
        return sums

    def summarize(self, sums) -> dict:
        return {k: sums[k] / sums["frames"] for k in ("l1", "psnr", "baseline_copy_l1", "baseline_copy_psnr")}


    def samples(self, model, device, out: Path) -> dict[str, Path]:
        """A val clip re-enacted from its first frame: truth | reconstruction | copy-the-source, with sound."""
        from spacex.train import samples

        data = self.val_data
        c = data.clips[0]
        frames = to_float(data.frames(c)).to(device)
        src = model.source_features(frames[:1])
        recon = model.render_sequence(frames[:1], src, model.keypoints_of(src["kp_canonical"], frames))
        panel = torch.cat([frames, recon, frames[:1].expand_as(frames)], 3)  # (T, 3, S, 3S)
        video = to_uint8(panel)
        return {"reenactment": samples.video_with_audio(out / f"{c['clip_id']}_reenactment.mp4", video, c["fps"],
                                                        data.pack.get(c, "audio"), data.pack.sample_rate)}


def main(cfg: Config, stop_after: int | None = None, report_dir: str | Path | None = None) -> dict:
    from spacex import weights

    task = FV2VTask(cfg)
    run_config = {"profile": cfg.profile, "fv2v": as_dict(cfg.fv2v), "store": cfg.preprocess.out}

    def finish(_metrics):
        return {"perceptual_vgg19": float(task.args.use_vgg and weights.status("vgg19") == "ok")}

    return run_stage(task, cfg.fv2v.train, cfg.fv2v.out, run_config, stop_after, report_dir,
                     ratios={"l1_vs_baseline": ("l1", "baseline_copy_l1")}, finish=finish,
                     project=cfg.wandb.project)
