"""Speech2Landmarks against training data and steps: the validation ratio (mouth LMD over "repeat the photo's
landmarks") for more SynthTalk clips, longer schedules and seeds, next to the floors of benchmarks/s2l_floor.py
(prints figures and writes benchmarks/results/s2l_data.json; recorded in docs/training.md, "How low S2L can go").

    .venv/bin/python benchmarks/s2l_data.py [--clips 32 128] [--steps 600 3000] [--seeds 0 1 2] [--work DIR]
        [--backend groundtruth --out benchmarks/results/s2l_data_groundtruth.json]

One corpus is generated with the largest `--clips` training clips (`spacex corpus synth`, the profile's settings
otherwise), preprocessed and packed with the kit's commands, in `--work`. Clips are drawn in order from one seeded
generator, so its first 32 training clips are the embedded corpus's and its val clips are the same for every
size (but not the embedded corpus's: the larger training split draws them later from the generator); a smaller
size trains on the first N training clips of the same pack (a copy of the pack's index with the others moved to
split "unused" and the train MFCC statistics recomputed). Each (clips, steps, seed) is one `spacex train s2l` run
of the profile's S2L; `--work` keeps them, and a rerun reuses what is there (for the same corpus settings only).
About 20 minutes on 2 cores with the defaults.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from spacex import files
from spacex.preprocess.pack import add_mfcc

HERE = Path(__file__).resolve().parent


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "WANDB_MODE": "disabled"})


def params_for(work: Path, clips: int, backend: str | None) -> Path:
    """The repository's params.yaml with the corpus, store and pack moved into `work` (and another landmark
    backend for the store, if given)."""
    p = yaml.safe_load(Path("params.yaml").read_text())
    prof = p["profiles"][p["profile"]]
    prof["corpus"] = {"root": str(work / "corpus"), "synth": {**prof["corpus"].get("synth", {}), "clips_train": clips}}
    prof["preprocess"] = {**prof["preprocess"], "out": str(work / "store"), **({"backend": backend} if backend else {})}
    prof["pack"] = {**prof["pack"], "out": str(work / "pack")}
    out = work / "params.yaml"
    out.write_text(yaml.safe_dump(p, sort_keys=False))
    return out


def subset_pack(pack: Path, n: int | None) -> Path:
    """A pack view whose train split is the first n training clips (clip ids end in their draw index), with the
    train split's MFCC statistics recomputed over those clips (S2L normalizes its input with them)."""
    if n is None:
        return pack
    view = pack.parent / f"pack_first{n}"
    view.mkdir(exist_ok=True)
    idx = json.loads((pack / "index.json").read_text())
    sums: dict[str, dict] = {}
    for c in idx["clips"]:
        if c["split"] != "train":
            continue
        if int(c["clip_id"].rsplit("_", 1)[1]) >= n:
            c["split"] = "unused"
            continue
        mfcc = np.load(pack / c["shard"] / "mfcc.npy", mmap_mode="r")
        add_mfcc(sums, "train", mfcc[c["start"]:c["start"] + c["n_frames"]])
    idx["mfcc_sums"]["train"] = sums["train"]
    for name in idx["shards"]:
        if not (view / name).exists():
            (view / name).symlink_to(pack / name)
    files.write_json(view / "index.json", idx)
    return view


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", nargs="*", type=int, default=[32, 128])
    ap.add_argument("--steps", nargs="*", type=int, default=[600, 3000])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--backend", default=None, help="landmark backend of the store (default: the profile's); "
                    "groundtruth: SynthTalk's exact landmarks, S2L's targets without detector error")
    ap.add_argument("--work", default="/tmp/s2l_data")
    ap.add_argument("--out", default=str(HERE / "results" / "s2l_data.json"))
    args = ap.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    stamp = {"max_clips": max(args.clips), "backend": args.backend}  # what the corpus, store and pack were made with
    made = work / "made_with.json"
    if made.is_file() and json.loads(made.read_text()) != stamp:
        sys.exit(f"{work} was made with {made.read_text().strip()}, not {stamp}: pass another --work")
    files.write_json(made, stamp)
    params = str(params_for(work, max(args.clips), args.backend))
    spacex = [sys.executable, "-m", "spacex.cli"]
    if not (work / "pack" / "index.json").is_file():
        for step in ("corpus synth --quiet", "preprocess --quiet", "pack"):
            run(*spacex, *step.split(), "--params", params)
    res = {"clips": args.clips, "steps": args.steps, "seeds": args.seeds, "backend": args.backend or "profile",
           "runs": [], "floors": {}}
    for n in args.clips:
        pack = subset_pack(work / "pack", None if n == max(args.clips) else n)
        floor = work / f"floor_{n}.json"
        subprocess.run([sys.executable, str(HERE / "s2l_floor.py"), "--params", params, "--out", str(floor),
                        "--set", f"pack.out={pack}"], check=True, stdout=subprocess.DEVNULL)
        res["floors"][str(n)] = {k: v for k, v in json.loads(floor.read_text()).items()
                                 if k in ("baseline_mouth_lmd", "true_motion", "linear_detector")}
        for steps in args.steps:
            for seed in args.seeds:
                out = work / f"s2l_{n}_{steps}_{seed}"
                if not (out / "metrics.json").is_file():
                    every = max(steps // 3, 1)
                    run(*spacex, "train", "s2l", "--params", params, "--set", f"s2l.out={out}", f"pack.out={pack}",
                        f"emotion.predictions={work / 'emotion'}", f"s2l.train.steps={steps}",
                        f"s2l.train.seed={seed}", f"s2l.train.eval_every={every}", f"s2l.train.ckpt_every={every}")
                m = json.loads((out / "metrics.json").read_text())
                row = {"clips": n, "steps": steps, "seed": seed,
                       "ratio": round(m["mouth_lmd"] / m["baseline_mouth_lmd"], 4),
                       "mouth_open_corr": round(m["mouth_open_corr"], 4)}
                res["runs"].append(row)
                print(json.dumps(row), flush=True)
    files.write_json(args.out, res)
    for n in args.clips:
        for steps in args.steps:
            r = [x["ratio"] for x in res["runs"] if x["clips"] == n and x["steps"] == steps]
            print(f"{n:4d} clips {steps:5d} steps: ratio mean {sum(r) / len(r):.3f} (range {min(r):.3f}-{max(r):.3f})")
    print("floors:", json.dumps(res["floors"]))


if __name__ == "__main__":
    main()
