"""What the evaluation protocol lets a renderer score at best (prints figures; recorded in docs/benchmarks.md).

A perfect re-renderer returns each test clip's own frames, cropped as face-vid2vid sees them (crop box of the
store, `--sizes` px), and goes through everything the renderer control goes through: the animate stage's writer
(`render_reenactments`: mp4 of the crops), the paste-back into the photo's framing (spline order
`--orders`, evaluate.protocol.paste_order) and the evaluate protocol (ground-truth box, 128 px crop, 25 fps). What
it loses against the ground truth is the protocol's floor, not the renderer's: no face-vid2vid can do better in
that crop. With `--trained`, the trained renderer's control renders (build/animate/renderer, from the animate
stage) are scored under each paste-back order too.

    .venv/bin/python benchmarks/renderer_floor.py [--sizes 128 256] [--orders 1 3] [--trained]

Run after `make repro` (it reads the default store, the corpus and the animate stage's renders).
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

from spacex import config
from spacex.animate.batch import render_reenactments
from spacex.animate.pipeline import Animator
from spacex.corpus import clip as clipfmt
from spacex.evaluate import score

KEYS = ("psnr", "ssim", "cpbd", "lmd_mouth", "lmd_face", "blink_rate", "pose_error")


class CopyRenderer:
    """face-vid2vid's interface as the re-enactment uses it, returning the driving crops themselves."""

    def __init__(self, resolution: int):
        self.args = SimpleNamespace(resolution=resolution)

    def source_features(self, img):
        return {"kp_canonical": None}

    def keypoints_of(self, kp_canonical, frames):  # the "keypoints" are the frames: rendered back unchanged
        return frames

    def render_sequence(self, source, src, kps, chunk=16):
        return kps


def scored(cfg_overrides: dict, method: str) -> dict:
    m = score.score_method(config.load("smoke", overrides=cfg_overrides), method, progress=False)["metrics"]
    return {k: round(m[k], 4) if isinstance(m.get(k), float) else m.get(k) for k in KEYS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", type=int, default=[128, 256])
    ap.add_argument("--orders", nargs="*", type=int, default=[1, 3])
    ap.add_argument("--trained", action="store_true", help="also score build/animate/renderer per paste order")
    args = ap.parse_args()
    cfg = config.load("smoke")
    rows = [r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == cfg.evaluate.split]
    work = Path(tempfile.mkdtemp(prefix="renderer_floor_"))
    results = {"clips": len(rows)}
    try:
        base = {"evaluate.reports": str(work / "reports")}
        results["static"] = scored(base | {"evaluate.out": str(work / "static")}, "static")
        for size in args.sizes:
            an = work / f"an{size}"
            skipped = render_reenactments(Animator(CopyRenderer(size), None, None, None, cfg.preprocess.emotions),
                                          cfg, {r["clip_id"]: r["corpus"] for r in rows}, an / "renderer")
            assert not skipped, skipped
            for order in args.orders:
                results[f"perfect_{size}px_order{order}"] = scored(
                    base | {"animate.out": str(an), "evaluate.out": str(work / f"ev{size}_{order}"),
                            "evaluate.protocol": {"paste_order": order}}, "renderer")
        if args.trained:
            for order in args.orders:
                results[f"trained_order{order}"] = scored(
                    base | {"evaluate.out": str(work / f"trained_{order}"), "evaluate.protocol": {"paste_order": order}},
                    "renderer")
        results["ground_truth_cpbd"] = scored(base | {"evaluate.out": str(work / "gt")}, "ground_truth")["cpbd"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
