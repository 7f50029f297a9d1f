"""Reference predictors for Speech2Landmarks' validation ratio on a corpus with exact ground truth (prints figures;
recorded in docs/training.md, "How low S2L can go").

S2L's validation scores its prediction against the *detected* landmarks (dlib on the store's frames), in units of
the normalized face, relative to "repeat the photo's landmarks" (`spacex.train.s2l.clip_errors`: the same clips,
photos, frames and LMD). SynthTalk knows the true landmarks of every frame (`landmarks_norm` in each clip's .npz),
so two predictors built from that knowledge, which no audio model has, show how much of the ratio is the
detector's:

- `true_motion`: the photo's detected landmarks moved by the face's true motion (truth of the frame minus truth of
  the photo's frame): an exact audio-to-motion model that knows nothing of the detector;
- `linear_detector`: the true motion of the frame and its neighbours (+-2 frames) and the photo's detection
  mapped to the detected landmarks by a ridge regression fitted on the train split (dlib's answer to a face
  shape, learned linearly), scored on the evaluated split; the ridge weight is the best of a small grid on that
  split, which flatters it.

Neither is a bound: a model can learn more of the detector's answers than a linear map does. And one figure of
the detector itself: its mouth error against the per-clip best affine fit of the truth, with both smoothed over
frames by the same Gaussian (how much of the error is frame-to-frame jitter).

    .venv/bin/python benchmarks/s2l_floor.py [--split val] [--out benchmarks/results/s2l_floor.json]
        [--params PARAMS] [--set pack.out=...]

Run after `make repro` (it reads the pack, the corpus' ground truth and, for the default pack, reports/train_s2l).
Intervals: 95% percentile bootstrap of the ratio of summed errors, resampling identities (the clips of one
identity share its photo), with the number of identities stated.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

import torch

from spacex import config, files
from spacex.corpus import clip as clipfmt
from spacex.train.s2l import S2LData, lmd_sums

CONTEXT = 2  # frames either side that the linear detector model sees
RIDGE = (1e-3, 1e-2, 1e-1, 1.0)
SMOOTHING = (0.0, 1.0, 2.0)  # Gaussian sigma, frames


def clips_of(pack: str, split: str, source: str) -> list[dict]:
    """Per clip: detected landmarks (T, 68, 3), the truth (T, 68, 3), the photo's detection and truth (68, 3)."""
    d = S2LData(pack, split, "normalized")
    out = []
    for k, c in enumerate(d.clips):
        det = d.landmarks(c)
        truth = clipfmt.read_groundtruth(c["corpus"], c["clip_id"])["landmarks_norm"]
        assert len(truth) == len(det), f"{c['clip_id']}: the store is at another frame rate than the corpus"
        p = d.photo_clip(k, source)
        out.append({"id": c["clip_id"], "identity": c["identity"], "det": det, "truth": truth,
                    "photo": d.photo(k, source)[0],
                    "photo_truth": clipfmt.read_groundtruth(p["corpus"], p["clip_id"])["landmarks_norm"][0]})
    return out


def mouth_sum(pred: np.ndarray, target: np.ndarray) -> float:
    """Summed over frames: the mouth LMD of S2L's validation (spacex.train.s2l.lmd_sums)."""
    return lmd_sums(torch.from_numpy(np.ascontiguousarray(pred, np.float32)),
                    torch.from_numpy(np.ascontiguousarray(target, np.float32)))["mouth_lmd"]


def features(c: dict) -> np.ndarray:
    """(T, F): the true motion of frames t-CONTEXT..t+CONTEXT, the photo's detection, 1."""
    rel = (c["truth"] - c["photo_truth"]).reshape(len(c["truth"]), -1)
    pad = np.concatenate([rel[:1].repeat(CONTEXT, 0), rel, rel[-1:].repeat(CONTEXT, 0)])
    T = len(rel)
    return np.concatenate([pad[i:i + T] for i in range(2 * CONTEXT + 1)]
                          + [np.repeat(c["photo"].reshape(1, -1), T, 0), np.ones((T, 1))], 1)


def ratio(errors: list[float], baseline: list[float], identities: list[str]) -> dict:
    """Ratio of summed errors, with a bootstrap interval resampling identities (their clips together)."""
    e, b, ids = np.asarray(errors), np.asarray(baseline), np.asarray(identities)
    groups = [np.flatnonzero(ids == i) for i in sorted(set(identities))]
    eg, bg = np.array([e[g].sum() for g in groups]), np.array([b[g].sum() for g in groups])
    idx = np.random.default_rng(0).integers(0, len(groups), (2000, len(groups)))
    boot = eg[idx].sum(1) / bg[idx].sum(1)
    return {"ratio": round(float(e.sum() / b.sum()), 4), "identities": len(groups),
            "interval": [round(float(x), 4) for x in np.quantile(boot, [0.025, 0.975])]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", default="benchmarks/results/s2l_floor.json")
    ap.add_argument("--params", default=None, help="params.yaml (default: found from the working dir)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. pack.out=...")
    args = ap.parse_args()
    cfg = config.load(params=args.params, overrides=dict(kv.split("=", 1) for kv in args.set))
    assert cfg.s2l.space == "normalized", "S2L validates in another space: these references are normalized-space"
    train, held = clips_of(cfg.pack.out, "train", cfg.s2l.source), clips_of(cfg.pack.out, args.split, cfg.s2l.source)
    base = [mouth_sum(np.broadcast_to(c["photo"], c["det"].shape), c["det"]) for c in held]
    frames = sum(len(c["det"]) for c in held)
    res = {"split": args.split, "clips": len(held), "frames": frames, "source": cfg.s2l.source,
           "baseline_mouth_lmd": round(sum(base) / frames, 5)}

    moved = [mouth_sum(c["photo"] + (c["truth"] - c["photo_truth"]), c["det"]) for c in held]
    ids = [c["identity"] for c in held]
    res["true_motion"] = ratio(moved, base, ids)

    X = np.concatenate([features(c) for c in train])
    Y = np.concatenate([(c["det"] - c["photo"])[..., :2].reshape(len(c["det"]), -1) for c in train])
    best = None
    for lam in RIDGE:
        W = np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ Y)
        errs = [mouth_sum(c["photo"][..., :2] + (features(c) @ W).reshape(len(c["det"]), 68, 2), c["det"])
                for c in held]
        r = ratio(errs, base, ids)
        if best is None or r["ratio"] < best["ratio"]:
            best = {**r, "ridge": lam}
    res["linear_detector"] = best

    jitter = {}
    for sigma in SMOOTHING:
        total = 0.0
        for c in held:
            smooth = (lambda x: gaussian_filter1d(x, sigma, axis=0, mode="nearest")) if sigma else (lambda x: x)
            det, truth = smooth(c["det"]), smooth(c["truth"])  # both: smoothing must not blur away true motion
            X1 = np.concatenate([truth[..., :2].reshape(-1, 2), np.ones((truth[..., 0].size, 1))], 1)
            A = np.linalg.lstsq(X1, det[..., :2].reshape(-1, 2), rcond=None)[0]  # per-clip affine truth -> det
            total += mouth_sum((X1 @ A).reshape(det.shape[0], 68, 2), det)
        jitter[str(sigma)] = round(total / frames, 5)
    res["detector_vs_aligned_truth_mouth_lmd"] = jitter

    trained = Path("reports/train_s2l/metrics.json")  # the pipeline's S2L, validated on the default pack
    if args.split == "val" and args.params is None and not args.set and trained.is_file():
        res["trained_s2l"] = json.loads(trained.read_text()).get("mouth_lmd_vs_baseline")
    files.write_json(args.out, res)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
