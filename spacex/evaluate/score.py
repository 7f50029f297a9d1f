"""Score one method over a split under the protocol: per-clip rows, traces, face-crop videos and a metrics JSON.

    spacex evaluate spacex            # or: notebooks/50_evaluate.ipynb -p method spacex

Methods:
    spacex         the animate stage's renders (build/animate/<clip_id>.mp4)
    renderer       control: face-vid2vid alone re-enacting each clip from the keypoints of its own frames
                   (build/animate/renderer/<clip_id>.mp4): the ceiling the renderer sets for every result
    ground_truth   the corpus clip itself: the known answers (PSNR inf, LMD 0) and the reference values
    static         the photo (the clip's first frame) held still, with the clip's speech: no motion at all
    wav2lip, makeittalk, pcavs
                   the official code through spacex.evaluate.baselines (user's clone, env and checkpoints);
                   when not configured the method is reported "unavailable" with exactly what is missing
    <folder name>  evaluate.baselines.folders: already-rendered videos of any method

Every method gets the same inputs: the clip's first frame as the photo and the clip's speech. Outputs:
    <out>/<method>/per_clip.csv   one row per clip (empty cell: not available)
    <out>/<method>/traces.npz     <clip>/mouth_gen, <clip>/mouth_gt, <clip>/envelope at 25 fps
    <out>/<method>/eval/<clip>.mp4  the face crops exactly as scored, with the 16 kHz speech
    <reports>/<method>.json      means over clips, what could not be computed and why (DVC metrics)
A clip that fails (unreadable video, no face, ...) is skipped with its reason; the others go on.
"""
from __future__ import annotations

import csv
import json
import math
import traceback
from pathlib import Path

import numpy as np

from spacex import config, files, media
from spacex import landmarks as lm
from spacex.config import Config
from spacex.corpus import clip as clipfmt
from spacex.crop import photo_to_crop
from spacex.errors import KitError
from spacex.evaluate import protocol as proto
from spacex.evaluate.baselines import BaselinesConfig, folder_methods, make_adapters
from spacex.evaluate.baselines.base import face_points, paste_back, similarity
from spacex.evaluate.metrics import image, landmarks as lmk, registry, sharpness
from spacex.evaluate import sync
from spacex.weights import MissingWeights

REFERENCE = ("spacex", "renderer", "ground_truth", "static")
FIELDS = ["clip_id", "frames", "offset", *registry.PER_CLIP]  # per_clip.csv columns


class Unavailable(RuntimeError):
    """A method that cannot be scored here (not configured, missing checkpoints, no renders)."""


def protocol_of(cfg: Config) -> proto.Protocol:
    return config.build(proto.Protocol, cfg.evaluate.protocol, "evaluate.protocol")


def baselines_of(cfg: Config) -> BaselinesConfig:
    return config.build(BaselinesConfig, cfg.evaluate.baselines, "evaluate.baselines")


def resolved(cfg: Config) -> dict:
    """The whole config as plain data, every key: evaluate.protocol and evaluate.baselines typed here (config.py
    does not import the evaluation code) and filled with their defaults (`spacex config`)."""
    d = cfg.to_dict()
    d["evaluate"].update(protocol=config.as_dict(protocol_of(cfg)), baselines=config.as_dict(baselines_of(cfg)))
    return d


class Sources:
    """Where a method's video for a clip comes from: (path, audio_path or None, offset or None = estimate)."""

    def __init__(self, cfg: Config, method: str, work: Path):
        self.cfg, self.method, self.work = cfg, method, work
        self.roots = {r["clip_id"]: r["corpus"] for r in clipfmt.read_corpora(cfg.corpus.roots())}
        b = baselines_of(cfg)
        self.adapter = make_adapters(b, protocol_of(cfg), only_configured=False).get(method)
        self.folder = folder_methods(b).get(method)
        if method not in REFERENCE and self.adapter is None and self.folder is None:
            known = list(REFERENCE) + ["wav2lip", "makeittalk", "pcavs"] + sorted(b.folders)
            raise ValueError(f"unknown method {method!r} (known: {', '.join(known)})")

    def check(self) -> None:
        if self.method in ("spacex", "renderer") and not self._renders().is_dir():
            raise Unavailable(f"no renders in {self._renders()}: run the animate stage first")
        missing = (self.adapter or self.folder).check() if (self.adapter or self.folder) else []
        if missing:
            raise Unavailable("; ".join(missing))

    def __call__(self, clip_id: str) -> tuple[Path, Path | None, int | None]:
        gt = clipfmt.clip_paths(self.roots[clip_id], clip_id)["video"]
        if self.method == "ground_truth":
            return gt, None, 0
        if self.method in ("spacex", "renderer"):
            p = self._renders() / f"{clip_id}.mp4"
            if not p.is_file():
                raise FileNotFoundError(f"{p} missing (skipped by the animate stage? see its skipped.csv)")
            return self._in_photo_framing(p, gt, clip_id), None, 0
        if self.folder is not None:
            if clip_id in self.folder.missing([clip_id]):
                raise FileNotFoundError(f"{self.folder.path(clip_id)} missing")
            return self.folder.path(clip_id), self.folder.audio_path(clip_id), self.folder.offset
        photo = next(media.iter_frames(gt))[1]  # (H, W, 3): every method animates the clip's first frame
        out = self.work / "videos" / f"{clip_id}.mp4"
        if self.method == "static":
            audio, sr = media.read_audio(gt, 48_000)
            fps = protocol_of(self.cfg).fps
            n = int(len(audio) / sr * fps)
            media.write_video(out, (photo for _ in range(n)), fps, audio[: int(n / fps * sr)], sr)
            return out, None, 0
        speech = media.write_wav(self.work / "inputs" / f"{clip_id}.wav", *media.read_audio(gt, 16_000))
        self.adapter.render(photo, speech, out, self.work / "scratch")
        if json.loads(out.with_suffix(".json").read_text()).get("framing") == "crop":
            out = self._crops_in_photo_framing(out, photo, clip_id)
        return out, None, 0  # adapters apply their known offsets (PC-AVS) themselves


    def _crops_in_photo_framing(self, render: Path, photo: np.ndarray, clip_id: str) -> Path:
        """A baseline's own face crops (its JSON says framing "crop", e.g. PC-AVS with paste_back false), registered
        to the photo by detection (similarity on MTCNN's 5 points, median over 5 frames) and warped into the photo's
        framing with the crops' edge pixels outside them (no photo pixels), so the protocol's ground-truth box cuts
        the same face region as for every other method."""
        frames = [f for _, f in media.iter_frames(render)]
        sample = [frames[i] for i in np.linspace(0, len(frames) - 1, min(5, len(frames))).astype(int)]
        tform = similarity(face_points([photo]), face_points(sample))  # photo -> crop pixels
        info = media.probe(render, decode=False)
        audio, sr = media.read_audio(render, 48_000)
        out = render.with_name(f"{clip_id}.framed.mp4")
        order = protocol_of(self.cfg).paste_order
        return media.write_video(out, (paste_back(f, photo, tform, fill_from_photo=False, order=order) for f in frames),
                                 info.fps, audio, sr)

    def _renders(self) -> Path:
        out = Path(self.cfg.animate.out)
        return out / "renderer" if self.method == "renderer" else out

    def _in_photo_framing(self, render: Path, gt: Path, clip_id: str) -> Path:
        """SPACEx (and the renderer control) render the photo's face crop (box in the .npz beside it); pasted back into the photo so the
        protocol's ground-truth box cuts the same pixels as for every other method."""
        box = np.load(render.with_suffix(".npz"))["box"]
        photo = next(media.iter_frames(gt))[1]
        info = media.probe(render, decode=False)
        transform = photo_to_crop(box, info.width)  # crop_frames' half-pixel convention (spacex.crop)
        audio, sr = media.read_audio(render, 48_000)
        out = self.work / "videos" / f"{clip_id}.mp4"
        order = protocol_of(self.cfg).paste_order
        frames = (paste_back(f, photo, transform, order=order) for _, f in media.iter_frames(render))
        return media.write_video(out, frames, info.fps, audio, sr)


class Lazy:
    """A metric needing external weights: built on first use; MissingWeights becomes a recorded reason."""

    def __init__(self, build):
        self.build, self.value, self.reason = build, None, None

    def get(self):
        if self.value is None and self.reason is None:
            try:
                self.value = self.build()
            except MissingWeights as e:
                self.reason = str(e).splitlines()[0]
            except Exception as e:  # noqa: BLE001 - e.g. a corrupt weight file: this metric is off, not every clip
                self.reason = f"{type(e).__name__}: {e}"
        return self.value


def _fill_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN entries (frames where no face was found)."""
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return x
    return np.interp(np.arange(len(x)), np.flatnonzero(ok), x[ok])


def true_closure(row: dict, n: int, fps: float) -> np.ndarray | None:
    """The corpus's eye-closure track (SynthTalk's `eye_closure`) at the n scored ground-truth frames of `fps`, by
    nearest time with ties to the earlier frame, as the protocol resamples frames; None where the clip has none
    (real datasets) or its arrays cannot be read (then only blink_depth is missing, not the clip)."""
    if str(row.get("has_groundtruth")) != "True":  # the manifest's text form of the bool
        return None
    try:
        track = clipfmt.read_groundtruth(row["corpus"], row["clip_id"]).get("eye_closure")
    except (OSError, ValueError, KeyError):
        return None
    if track is None or not len(track):
        return None
    idx = np.clip(np.ceil(np.arange(n) / fps * float(row["fps"]) - 0.5 - 1e-9).astype(int), 0, len(track) - 1)
    return np.asarray(track, np.float64)[idx]


def score_clip(gen: proto.EvalVideo, gt: proto.EvalVideo, offset: int | None, lpips: Lazy, syncnet: Lazy,
               fid: Lazy, closure: np.ndarray | None = None) -> tuple[dict, dict]:
    """Metrics of one generated clip against its ground truth -> (row, traces). closure: the corpus's true eye
    closure at the ground truth's scored frames (T_gt,), where the corpus has one (blink_depth)."""
    if offset is None:
        offset = proto.estimate_offset(gen.frames, gt.frames)
    g, t = proto.align(gen.frames, gt.frames, offset)
    if len(g) < 2:
        raise ValueError(f"only {len(g)} frames overlap the ground truth at offset {offset}")
    row = {"frames": len(g), "offset": offset, "psnr": image.psnr(g, t), "ssim": image.ssim(g, t),
           "cpbd": sharpness.cpbd_video(g)}
    if lpips.get() is not None:
        row["lpips"] = lpips.value(g, t)

    tl = lmk.detect_landmarks(gt.frames)  # (T, 68, 2) crop pixels
    same = gen.frames.shape == gt.frames.shape and np.array_equal(gen.frames, gt.frames)  # the ground-truth row
    gl = tl if same else lmk.detect_landmarks(gen.frames)
    gla, tla = proto.align(gl.points, tl.points, offset)
    row.update(lmd_mouth=lmk.lmd(gla, tla, "mouth"), lmd_face=lmk.lmd(gla, tla, "face"),
               landmarks_missing=gl.missing, blink_rate=lmk.blink_rate(gl.points, gen.fps),
               jitter=lmk.jitter(gl.points, gen.fps), pose_error=lmk.pose_error(gla, tla),
               **lmk.pose_stats(gl.points, gen.fps))
    if closure is not None:
        row["blink_depth"] = lmk.blink_depth(*proto.align(gl.points, closure, offset))

    mouth = _fill_nan(lm.mouth_opening(gl.points))  # (T,) the method's own frames against its own audio
    vshift = min(15, (len(mouth) - 3) // 2)  # the usual +-15 frames, less for clips under 1.3 s
    if vshift >= 1:
        av = sync.av_sync(mouth, gen.audio, gen.sample_rate, gen.fps, vshift)
        row.update(av_corr=av.av_corr, av_conf=av.av_conf, av_offset=av.av_offset)
    if syncnet.get() is not None:
        s = sync.lse(gen.frames, gen.audio, syncnet.value, gen.sample_rate, gen.fps)
        row.update(lse_d=s.lse_d, lse_c=s.lse_c, av_offset_syncnet=s.offset)
    # traces on the aligned frames: generated frame j next to ground-truth frame j + offset
    mg, mt = proto.align(mouth, _fill_nan(lm.mouth_opening(tl.points)), offset)
    g0 = max(0, -offset)
    envelope = sync.audio_envelope(gen.audio, gen.sample_rate, gen.fps, len(mouth))[g0:g0 + len(mg)]
    if fid.get() is not None:
        fid.value.update(g, t)  # last: a clip that fails above must not leave frames in the FID pool
    return row, {"mouth_gen": mg, "mouth_gt": mt, "envelope": envelope}


def _mean(rows: list[dict], key: str):
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None
    vals = np.array(vals, np.float64)
    if np.isinf(vals).all():
        return "inf"
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return None
    return float(np.median(vals) if key.startswith("av_offset") else vals.mean())  # offsets: the typical one


def score_method(cfg: Config, method: str, limit: int | None = None, progress: bool = True) -> dict:
    """Score `method` on the configured split; writes the files listed in the module docstring."""
    e = cfg.evaluate
    P = protocol_of(cfg)
    work = Path(e.out) / method
    work.mkdir(parents=True, exist_ok=True)
    (work / "eval").mkdir(exist_ok=True)
    summary = {"method": method, "status": "ok", "clips": 0, "skipped": [], "protocol": P.__dict__.copy(),
               "metrics": {}, "unavailable_metrics": {}}
    rows_all = [r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == e.split]
    rows_all = rows_all[: limit or e.max_clips or None]
    sources = Sources(cfg, method, work)
    try:
        sources.check()
    except Unavailable as err:
        summary.update(status="unavailable", reason=str(err))
        return _write(cfg, method, summary, [], {})

    lpips = Lazy(lambda: image.LPIPSMetric(e.device))
    fid = Lazy(lambda: image.FIDMetric(e.device))
    syncnet = Lazy(lambda: sync.load_syncnet(device=e.device))
    rows, traces = [], {}
    for i, r in enumerate(rows_all):
        cid = r["clip_id"]
        try:
            gt_path = clipfmt.clip_paths(r["corpus"], cid)["video"]
            box, gt_size = proto.gt_box(gt_path, P)
            gt = proto.load_for_eval(gt_path, P, box, gt_size)
            path, audio_path, offset = sources(cid)
            gen = proto.load_for_eval(path, P, box, gt_size, audio_path)
            row, tr = score_clip(gen, gt, offset, lpips, syncnet, fid, true_closure(r, len(gt.frames), P.fps))
            media.write_video(work / "eval" / f"{cid}.mp4", gen.frames, P.fps, gen.audio, P.sample_rate)
        except Exception as err:  # noqa: BLE001 - a bad clip is recorded and skipped, the batch goes on
            summary["skipped"].append([cid, f"{type(err).__name__}: {err}"])
            if progress:  # an expected failure in one line; an unexpected one with where it happened
                if isinstance(err, (KitError, OSError)):
                    print(f"[{i + 1}/{len(rows_all)}] {method} {cid}: skipped ({err})", flush=True)
                else:
                    traceback.print_exc(limit=2)
            continue
        rows.append({"clip_id": cid, **row})
        traces.update({f"{cid}/{k}": v for k, v in tr.items()})
        if progress:
            print(f"[{i + 1}/{len(rows_all)}] {method} {cid}: " + ", ".join(
                f"{k} {v:.3g}" for k, v in row.items() if isinstance(v, float)), flush=True)
    summary["clips"] = len(rows)
    if not rows:
        summary.update(status="unavailable", reason=f"no clip could be scored ({len(summary['skipped'])} skipped)")
    for key in registry.PER_CLIP:
        if registry.BY_NAME[key].in_table:
            summary["metrics"][key] = _mean(rows, key)
    if fid.get() is not None and rows:
        summary["metrics"]["fid"] = fid.value.compute()
    for lazy, keys in ((lpips, registry.needing("alexnet")), (fid, registry.needing("inception_fid")),
                       (syncnet, registry.needing("syncnet_v2"))):
        if lazy.reason:
            for k in keys:
                summary["metrics"].pop(k, None)
                summary["unavailable_metrics"][k] = lazy.reason
    if len(rows) and sum(r["frames"] for r in rows) < 2048 and "fid" in summary["metrics"]:
        summary["notes"] = ["FID over fewer than 2048 frames per side is biased high (singular covariances)"]
    return _write(cfg, method, summary, rows, traces)


def _write(cfg: Config, method: str, summary: dict, rows: list[dict], traces: dict) -> dict:
    work = Path(cfg.evaluate.out) / method
    with open(work / "per_clip.csv", "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else
                            "inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in r.items()})
    np.savez(work / "traces.npz", **traces)
    rep = Path(cfg.evaluate.reports)
    rep.mkdir(parents=True, exist_ok=True)
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary["metrics"].items()}
    summary["metrics"] = clean
    files.write_metrics(rep / f"{method}.json", summary, settings=("protocol",))  # the rest: METHOD.info.json
    return summary
