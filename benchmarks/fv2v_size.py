"""face-vid2vid's size and cost per profile, counted without running it (prints figures; recorded in
docs/benchmarks.md): parameters per network and multiply-accumulates of the per-video work (appearance
volume, canonical keypoints, source pose) and the per-frame work (head pose + expression, motion field,
generator), from torch's FlopCounterMode on the meta device (no memory, no compute, any resolution).

    .venv/bin/python benchmarks/fv2v_size.py [--profiles smoke paper] [--resolution PX]
"""
import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from spacex import config
from spacex.models.fv2v.model import FaceVid2Vid

NETWORKS = ("appearance", "canonical", "headpose", "expression", "motion", "generator", "discriminator")  # expression: heatmap only


def macs(fn) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        out = fn()
    return counter.get_total_flops() / 2, out  # FlopCounterMode counts a multiply-add as 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", nargs="*", default=["smoke", "paper"])
    ap.add_argument("--resolution", type=int, default=None, help="override the profile's fv2v.model.resolution")
    args = ap.parse_args()
    print("| profile | px | K | " + " | ".join(NETWORKS) + " | inference params | per video GMAC | per frame GMAC |")
    print("|---" * (len(NETWORKS) + 6) + "|")
    for name in args.profiles:
        model_args = config.load(name).fv2v.model.to_dict()
        if args.resolution:
            model_args["resolution"] = args.resolution
        with torch.device("meta"), torch.no_grad():
            m = FaceVid2Vid(**model_args).eval()
            S = m.args.resolution
            x = torch.zeros(1, 3, S, S)
            video, src = macs(lambda: m.source_features(x))
            frame, _ = macs(lambda: m.render(x, src, m.driving_keypoints(src["kp_canonical"], x)[0]))
        count = {n: sum(p.numel() for p in getattr(m, n).parameters()) if getattr(m, n) is not None else 0 for n in NETWORKS}
        infer = sum(v for n, v in count.items() if n != "discriminator")
        print(f"| {name} | {S} | {m.args.num_kp} | " + " | ".join(f"{count[n] / 1e6:.2f} M" for n in NETWORKS)
              + f" | {infer / 1e6:.2f} M | {video / 1e9:.1f} | {frame / 1e9:.1f} |")


if __name__ == "__main__":
    main()
