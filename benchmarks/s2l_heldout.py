"""Speech2Landmarks on the held-out test identities, in landmark space (prints figures; docs/training.md,
"Speech2Landmarks on new faces").

S2L's validation split holds new sentences of the *training* identities; the test split's identities no stage
trained on. For every test clip this runs the animate pipeline's S2L (`Animator.landmarks_for`: the photo's
detected landmarks, the clip's audio, an emotion control) and scores its normalized landmarks against the
preprocessing's (the store's `landmarks_norm`, what S2L is trained to predict) as S2L's validation does: mouth
LMD, per frame the mean 2D distance over the mouth points, against "repeat the photo's landmarks". The error is
split into its static part (the distance between the mean mouth shapes over the clip) and the error left once
the prediction is moved onto the true mean shape (`debiased`: what the motion alone costs). The settings:

- `pipeline`: the clip's first frame as the photo and the clip's emotion label, as the animate stage does;
- `own_photo_neutral`: the same photo with the neutral control (the photo already shows the clip's emotion);
- `neutral_photo`: the first frame of the identity's first neutral test clip as the photo and the clip's
  emotion label, as S2L trains (`s2l.source: neutral`);
- `val_training_identities`: for comparison, S2L's own validation (the val clips: new sentences of the training
  identities, their photos and emotions as `spacex.train.s2l.clip_errors` chooses them), split the same way.

    .venv/bin/python benchmarks/s2l_heldout.py [--runs FOLDER] [--out benchmarks/results/s2l_heldout.json]

Run after `make repro` (it reads the store, the corpus and build/train). About 1 min.
"""
import argparse
import json
import time

import numpy as np
import torch

import machine
from spacex import config
from spacex import landmarks as lm
from spacex.animate.batch import clip_emotion, first_frame
from spacex.animate.pipeline import AnimateOptions, Animator
from spacex.corpus import clip as clipfmt
from spacex.evaluate.report.inputs import bootstrap_interval
from spacex.preprocess import store
from spacex.train.s2l import S2LData, lmd_sums


def mouth_errors(pred: np.ndarray, truth: np.ndarray, photo: np.ndarray) -> dict:
    """(T, 68, 3) predicted and true normalized landmarks, (68, 3) photo landmarks -> mouth LMDs, per frame as
    S2L's validation measures them (spacex.train.s2l.lmd_sums)."""
    T = min(len(pred), len(truth))
    p, t = torch.from_numpy(np.asarray(pred[:T], np.float32)), torch.from_numpy(np.asarray(truth[:T], np.float32))
    err = lambda a, b=t: lmd_sums(a, b)["mouth_lmd"] / len(b)  # noqa: E731
    return {"frames": T, "mouth_lmd": err(p),
            "baseline_mouth_lmd": err(torch.from_numpy(np.asarray(photo, np.float32)).expand_as(t)),
            "static": err(p.mean(0, keepdim=True), t.mean(0, keepdim=True)),
            "debiased": err(p - p.mean(0) + t.mean(0)),
            "opening_r": float(np.corrcoef(lm.mouth_opening(pred[:T]), lm.mouth_opening(truth[:T]))[0, 1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="benchmarks/results/s2l_heldout.json")
    ap.add_argument("--runs", help="folder of fv2v/, s2l/, l2l/, posegen/ run folders (default: animate.runs)")
    args = ap.parse_args()
    cfg = config.load("smoke", overrides={"animate.runs": args.runs} if args.runs else None)
    animator = Animator.from_runs(cfg.animate.runs, emotions=cfg.preprocess.emotions, precision=cfg.animate.precision)
    rows = [r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == cfg.animate.split]
    video = {r["clip_id"]: clipfmt.clip_paths(r["corpus"], r["clip_id"])["video"] for r in rows}
    neutral = {}
    for r in rows:  # the identity's first neutral clip: its first frame plays the neutral photo
        if clip_emotion(r).startswith("neutral"):
            neutral.setdefault(r["identity"], r["clip_id"])
    landmarks = {r["clip_id"]: store.read_clip(cfg.preprocess.out, r["clip_id"])["landmarks_norm"] for r in rows}
    photos = {c: first_frame(video[c]) for c in {r["clip_id"] for r in rows} | set(neutral.values())}
    t0 = time.perf_counter()
    per = {name: {} for name in ("pipeline", "own_photo_neutral", "neutral_photo")}
    for r in rows:
        clip, truth = r["clip_id"], landmarks[r["clip_id"]]
        asked = [("pipeline", clip, clip_emotion(r)), ("own_photo_neutral", clip, AnimateOptions.emotion)]
        if r["identity"] in neutral:
            asked.append(("neutral_photo", neutral[r["identity"]], clip_emotion(r)))
        for photo_clip in dict.fromkeys(c for _, c, _ in asked):  # one S2L batch per photo, every emotion asked
            mine = [(name, emotion) for name, c, emotion in asked if c == photo_clip]
            preds = animator.landmarks_for(photos[photo_clip], video[clip], [e for _, e in mine])
            for (name, emotion), pred in zip(mine, preds):
                per[name][clip] = {"emotion": emotion, "photo": photo_clip,
                                   **mouth_errors(pred, truth, landmarks[photo_clip][0])}
    val = S2LData(cfg.pack.out, "val", cfg.s2l.space, cfg.emotion.predictions)
    per["val_training_identities"] = {}
    with torch.no_grad():
        for k, c in enumerate(val.clips):
            photo = val.photo(k, cfg.s2l.source)  # (1, 68, 3)
            pred, _ = animator.s2l(torch.from_numpy(val.mfcc(c)[None]), torch.from_numpy(photo),
                                   torch.from_numpy(val.get(c, "emotion")[None]))
            per["val_training_identities"][c["clip_id"]] = {
                "photo": val.photo_clip(k, cfg.s2l.source)["clip_id"],
                **mouth_errors(pred[0].numpy(), val.landmarks(c), photo[0])}
    summary = {}
    for name, clips in per.items():
        v = {k: np.array([c[k] for c in clips.values()]) for k in
             ("mouth_lmd", "baseline_mouth_lmd", "static", "debiased", "opening_r", "frames")}
        w = v["frames"] / v["frames"].sum()
        d = v["mouth_lmd"] - v["baseline_mouth_lmd"]
        summary[name] = {"clips": len(clips), **{k: round(float((v[k] * w).sum()), 5) for k in
                                                 ("mouth_lmd", "baseline_mouth_lmd", "static", "debiased")},
                         "mouth_lmd_vs_baseline": round(float((v["mouth_lmd"] * w).sum() / (v["baseline_mouth_lmd"] * w).sum()), 4),
                         "minus_baseline": round(float(d.mean()), 5),
                         "minus_baseline_interval": [round(x, 5) for x in bootstrap_interval(d)],
                         "opening_r": round(float(v["opening_r"].mean()), 3)}
        print(name, json.dumps(summary[name]))
    machine.write_result(args.out, {"date": time.strftime("%Y-%m-%d"), "cpu": machine.cpu_model(),
                                    "seconds": round(time.perf_counter() - t0, 1), "split": cfg.animate.split,
                                    "summary": summary, "per_clip": per})


if __name__ == "__main__":
    main()
