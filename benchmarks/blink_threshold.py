"""How many of SynthTalk's true blinks the protocol's blink detector finds at the evaluate crop size, by threshold
(issue 11's blink-rate bar; docs/training.md, "The pushed renderer since 2026-12-08").

`blink_rate` counts a blink where the mean eye aspect ratio (dlib landmarks, frontalized) falls below `ratio` x the
clip's open level (spacex.preprocess.eyes.detect_blinks; the protocol's ratio is 0.6). For each method whose
renders exist (after `make repro`), this loads each test clip's frames exactly as the evaluate stage scores them
(score.Sources, protocol.load_for_eval: the ground truth's crop box, 25 fps), detects the landmarks and counts, per
ratio: the detected events, how many overlap a true blink (a run of frames whose corpus
`eye_closure` is above 0.7) and how many do not, and the fraction of true blinks found. The ground truth's own
video says what the detector can find at this resolution; the renderer control re-enacts each clip's own frames,
so its blinks are the true ones too (SPACEx blinks at times of its own: only its rate is comparable).

    .venv/bin/python benchmarks/blink_threshold.py [--methods ground_truth renderer spacex] [--out FILE]

Run after `make repro`. ~2 min.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import machine
from spacex import config
from spacex.corpus import clip as clipfmt
from spacex.evaluate import protocol as proto, score
from spacex.evaluate.metrics import landmarks as lmk
from spacex.preprocess import eyes

RATIOS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool -> [(start, end)) frame runs where it is True."""
    d = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default=None)
    ap.add_argument("--methods", nargs="+", default=["ground_truth", "renderer", "spacex"],
                    choices=["ground_truth", "renderer", "spacex"])
    ap.add_argument("--out", default="benchmarks/results/blink_threshold.json")
    args = ap.parse_args()
    cfg = config.load(args.profile)
    P = score.protocol_of(cfg)
    fps = P.fps
    rows = [r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == cfg.evaluate.split]
    result = {"date": time.strftime("%Y-%m-%d"), "cpu": machine.cpu_model(), "clips": len(rows),
              "ratios": list(RATIOS), "methods": {}}
    boxes = {}  # clip id -> the ground truth's crop box and frame size, shared by every method
    for r in rows:
        boxes[r["clip_id"]] = proto.gt_box(clipfmt.clip_paths(r["corpus"], r["clip_id"])["video"], P)
    for method in args.methods:
        sources = score.Sources(cfg, method, Path(cfg.evaluate.out) / method)
        per = {ratio: {"events": 0, "true_found": 0, "false": 0} for ratio in RATIOS}
        minutes, true_blinks = 0.0, 0
        for r in rows:
            path, audio_path, _ = sources(r["clip_id"])  # offset 0 for these three methods
            frames = proto.load_for_eval(path, P, *boxes[r["clip_id"]], audio_path).frames
            ear = lmk.eye_openness(lmk.detect_landmarks(frames).points)  # (T, 2)
            ok = np.isfinite(ear).all(1)
            ear[~ok] = np.percentile(ear[ok], 90, axis=0)  # as blink_rate: missing faces count as open
            minutes += ok.sum() / fps / 60
            closure = score.true_closure(r, len(frames), fps)
            shut = runs(closure > 0.7) if closure is not None else []
            true_blinks += len(shut)
            for ratio in RATIOS:
                flags, _ = eyes.detect_blinks(ear, fps, ratio)
                events = runs(flags)  # the detected blinks as frame runs
                hits = sum(1 for s, e in events if closure is not None and (closure[s:e] > 0.5).any())
                per[ratio]["events"] += len(events)
                per[ratio]["true_found"] += sum(1 for s, e in shut if flags[s:e].any())
                per[ratio]["false"] += len(events) - hits
        result["methods"][method] = {
            "minutes": round(minutes, 3), "true_blinks": true_blinks,
            "true_rate": round(true_blinks / minutes, 2),
            "by_ratio": {str(k): {**v, "rate": round(v["events"] / minutes, 2),
                                  "recall": round(v["true_found"] / true_blinks, 3) if true_blinks else None}
                         for k, v in per.items()}}
        print(f"{method}: {true_blinks} true blinks in {minutes:.2f} min ({true_blinks / minutes:.1f}/min)")
        for k, v in result["methods"][method]["by_ratio"].items():
            print(f"  ratio {k}: {v['events']} events ({v['rate']}/min), true blinks found {v['true_found']}, "
                  f"events on open eyes {v['false']}")
    machine.write_result(args.out, result)


if __name__ == "__main__":
    main()
