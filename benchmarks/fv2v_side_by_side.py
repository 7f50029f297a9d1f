"""The kit's face-vid2vid next to the public re-implementation, in one run: parameters, per-video and per-frame time.

    .venv/bin/python benchmarks/fv2v_side_by_side.py --peer ~/src/One-Shot_Free-View_Neural_Talking_Head_Synthesis

The peer is a local clone of zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis; its modules are
imported from there (nothing is copied, and no bytecode is written into the clone). It is built from its own
`config/vox-256.yaml` (`--num-kp` and the SPADE generator switch as given); the kit from the `paper` profile's
fv2v.model with the same resolution, K and generator. Both use random weights, seed 0: speed only.

- per video: the source's features: the peer's keypoint detector + head-pose estimator; the kit's appearance volume,
  canonical keypoints and head pose (`source_features`).
- per frame: one frame from given driving keypoints: the peer's generator (which re-encodes the source on every
  call: its API has no cache), the kit's motion field + generator from the cached volume (`render`).
- each configuration runs in a fresh subprocess (warm-up call first), configurations interleaved over `--repeat`
  rounds; median and range per configuration. The kit also runs with oneDNN's bf16 convolutions on fp32 tensors
  (kit_bf16conv: `spacex animate --precision bf16conv`) and under bf16 autocast (kit_bf16: `--precision bf16`, what
  auto picks on a CPU with native bf16).

The parameter table says how far the two are from the same configuration (issue 17 asks for within 5% per
network before a speed ratio counts as "the same configuration").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ("peer", "kit", "kit_bf16conv", "kit_bf16")


def build(which: str, peer: Path, resolution: int, num_kp: int, spade: bool):
    """-> (networks {name: module}, per_video(src), per_frame(src, feats, kp), keypoints(src)) for one
    configuration; keypoints(src) is the per-video keypoint and head-pose work alone (the peer's whole per-video
    work; the kit's without its appearance volume, which the peer computes on every frame instead)."""
    import torch

    torch.manual_seed(0)
    if which == "peer":
        import yaml

        sys.path.insert(0, str(peer))
        from modules.generator import OcclusionAwareGenerator, OcclusionAwareSPADEGenerator
        from modules.keypoint_detector import HEEstimator, KPDetector

        mp = yaml.safe_load((peer / "config" / "vox-256.yaml").read_text())["model_params"]
        common = {**mp["common_params"], "num_kp": num_kp}
        G = OcclusionAwareSPADEGenerator if spade else OcclusionAwareGenerator
        gen = G(**mp["generator_params"], **common).eval()
        kp_det = KPDetector(**mp["kp_detector_params"], **common).eval()
        he = HEEstimator(**mp["he_estimator_params"], **common).eval()
        nets = {"keypoint detector": kp_det, "head pose": he, "motion": gen.dense_motion_network,
                "generator (rest)": gen}

        def per_video(src):
            return {"kp": kp_det(src)["value"], "he": he(src)}

        def per_frame(src, feats, kp):
            return gen(src, kp_driving={"value": kp, "jacobian": None},
                       kp_source={"value": feats["kp"], "jacobian": None})["prediction"]
        return nets, per_video, per_frame, per_video

    sys.path.insert(0, str(REPO))
    from contextlib import nullcontext

    from spacex import config
    from spacex.animate.pipeline import mkldnn_conv_precision
    from spacex.models.fv2v.model import FaceVid2Vid

    args = {**config.load("paper", REPO / "params.yaml").fv2v.model.to_dict(), "resolution": resolution,
            "num_kp": num_kp, "spade": spade, "use_vgg": False}
    m = FaceVid2Vid(**args).eval()
    nets = {"keypoint detector": m.canonical, "head pose": m.headpose, "motion": m.motion,
            "generator (rest)": torch.nn.ModuleList([m.generator, m.appearance])}
    def rendering():  # the renderer's arithmetic, as Animator.rendering sets it
        if which == "kit_bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return mkldnn_conv_precision("bf16") if which == "kit_bf16conv" else nullcontext()

    def per_video(src):
        return m.source_features(src)

    def per_frame(src, feats, kp):
        with rendering():
            return m.render(src, feats, kp).float()

    def keypoints(src):
        return m.canonical(src), m.headpose(src)
    return nets, per_video, per_frame, keypoints


def child(which: str, peer: Path, resolution: int, num_kp: int, spade: bool, calls: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    nets, per_video, per_frame, keypoints = build(which, peer, resolution, num_kp, spade)
    params = {k: round(sum(p.numel() for p in n.parameters()) / 1e6, 2) for k, n in nets.items()}
    if which == "peer":  # the generator's own count includes its dense-motion network: report the rest
        params["generator (rest)"] = round(params["generator (rest)"] - params["motion"], 2)
    g = torch.Generator().manual_seed(1)
    src = torch.rand(1, 3, resolution, resolution, generator=g)
    kp = torch.rand(1, num_kp, 3, generator=g) * 1.6 - 0.8
    with torch.no_grad():
        t = time.perf_counter()
        feats = per_video(src)  # warm-up
        video_first = time.perf_counter() - t
        per_frame(src, feats, kp)  # warm-up
        keypoints(src)  # warm-up
        video, frame, kps = [], [], []
        for _ in range(calls):
            t = time.perf_counter()
            keypoints(src)
            kps.append(time.perf_counter() - t)
            t = time.perf_counter()
            feats = per_video(src)
            video.append(time.perf_counter() - t)
            t = time.perf_counter()
            per_frame(src, feats, kp)
            frame.append(time.perf_counter() - t)
    return {"config": which, "params_m": params, "per_video_s": statistics.median(video),
            "per_frame_s": statistics.median(frame), "keypoints_s": statistics.median(kps),
            "first_per_video_s": video_first}



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=False, help="local clone of the face-vid2vid re-implementation")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--num-kp", type=int, default=15)
    ap.add_argument("--spade", action="store_true", help="SPADE generators on both sides")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each runs every configuration in a fresh process")
    ap.add_argument("--calls", type=int, default=3, help="timed calls per process (after one warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=CONFIGS)
    ap.add_argument("--json", default="benchmarks/results/fv2v_side_by_side.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if not a.peer:
        print("--peer PATH: a clone of github.com/zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis "
              "(git clone it; this script never downloads)", file=sys.stderr)
        return 2
    peer = Path(a.peer).expanduser().resolve()
    if not (peer / "modules" / "generator.py").is_file():
        print(f"{peer}: not a clone of the re-implementation (no modules/generator.py)", file=sys.stderr)
        return 2
    if a.child:
        print(json.dumps(child(a.child, peer, a.resolution, a.num_kp, a.spade, a.calls, a.threads)))
        return 0
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    commit = subprocess.run(["git", "-C", str(peer), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or None
    runs: dict[str, list[dict]] = {c: [] for c in a.configs}
    for r in range(a.repeat):
        for c in a.configs:  # interleaved: drift in the machine's load hits every configuration alike
            cmd = [sys.executable, __file__, "--peer", str(peer), "--resolution", str(a.resolution), "--num-kp",
                   str(a.num_kp), "--calls", str(a.calls), "--threads", str(a.threads), "--child", c]
            if a.spade:
                cmd.append("--spade")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
            runs[c].append(json.loads(out.strip().splitlines()[-1]))
            print(f"round {r + 1} {c}: per frame {runs[c][-1]['per_frame_s'] * 1000:.0f} ms, per video "
                  f"{runs[c][-1]['per_video_s'] * 1000:.0f} ms (keypoints + head pose "
                  f"{runs[c][-1]['keypoints_s'] * 1000:.0f} ms)", flush=True)
    summary = {}
    for c, rs in runs.items():
        pf, pv = [x["per_frame_s"] * 1000 for x in rs], [x["per_video_s"] * 1000 for x in rs]
        pk = [x["keypoints_s"] * 1000 for x in rs]
        summary[c] = {"params_m": rs[0]["params_m"], "per_frame_ms": round(statistics.median(pf), 1),
                      "per_frame_ms_range": [round(min(pf), 1), round(max(pf), 1)],
                      "per_video_ms": round(statistics.median(pv), 1),
                      "per_video_ms_range": [round(min(pv), 1), round(max(pv), 1)],
                      "keypoints_ms": round(statistics.median(pk), 1),
                      "keypoints_ms_range": [round(min(pk), 1), round(max(pk), 1)]}
    if "peer" in summary:
        for c in summary:
            summary[c]["per_frame_vs_peer"] = round(summary[c]["per_frame_ms"] / summary["peer"]["per_frame_ms"], 3)
            summary[c]["per_video_vs_peer"] = round(summary[c]["per_video_ms"] / summary["peer"]["per_video_ms"], 3)
            summary[c]["keypoints_vs_peer"] = round(summary[c]["keypoints_ms"] / summary["peer"]["keypoints_ms"], 3)
        if "kit" in summary:
            summary["params_kit_vs_peer"] = {k: round(summary["kit"]["params_m"][k] / v, 3)
                                             for k, v in summary["peer"]["params_m"].items()}
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(), "threads": a.threads,
              "load_1min_after": load, "peer_commit": commit, "resolution": a.resolution, "num_kp": a.num_kp,
              "spade": a.spade, "repeat": a.repeat, "calls": a.calls, "summary": summary}
    print(json.dumps(result, indent=1))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
