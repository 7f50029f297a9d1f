"""Animation throughput per stage, and peak memory against clip length (prints figures and writes a JSON; record
them in docs/benchmarks.md).

Speed: frames/s per stage of `Animator.__call__` (result.timings: landmarks = MFCC + Speech2Landmarks + blinks +
PoseGen + posing, keypoints = Landmarks2Latents, render = face-vid2vid; photo and audio setup in seconds) and end
to end (the whole call, streamed to an mp4 as the CLI does, so H.264/AAC encoding is included). Configurations:

    smoke64    the smoke profile's trained checkpoints (Animator.from_runs, 64 px), when build/train has them
    paper-seq  S2L / L2L / PoseGen at the paper profile's sizes, face-vid2vid replaced by a 32 px stand-in
               (num_kp 20): the sequence stages at a realistic clip length
    paper256   the paper profile's face-vid2vid arguments with resolution 256, paper-size S2L / L2L / PoseGen
    paper512   the same at resolution 512

The paper-size networks are randomly initialized: the figures are speed only, the videos are noise. Photo:
skimage's astronaut; audio: espeak-ng TTS speech (spacex.tts) repeated to the clip length.

Memory: a 1-minute and a 10-minute clip, each in a fresh subprocess, streamed to an mp4 with the default chunk
(300 frames), with a deliberately tiny untrained face-vid2vid (32 px, tests/test_animate.py's sizes) so the
10-minute run is affordable on a CPU: what is measured is how peak RSS grows with clip length, not the model.

    .venv/bin/python benchmarks/animate_throughput.py [--device cpu|cuda] [--seconds S] [--threads N]
        [--repeat N] [--configs smoke64 paper-seq paper256 paper512] [--memory-minutes 1 10] [--no-memory]
        [--json benchmarks/results/animate_throughput.json] [--replace]

The results file is updated in place (a run of some configurations replaces only those; figures with --threads N
go under "speed_threadsN"); --replace starts it afresh.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from machine import cpu_model  # benchmarks/machine.py
from spacex import config, media
from spacex.animate.pipeline import AnimateOptions, Animator
from spacex.models.fv2v.model import FaceVid2Vid
from spacex.models.l2l import Landmarks2Latents
from spacex.models.posegen import PoseGen
from spacex.models.s2l import Speech2Landmarks
from spacex.preprocess.emotion import DEFAULT_EMOTIONS

FPS = 30.0
CONFIGS = ("smoke64", "paper-seq", "paper256", "paper512")
# Clip lengths (seconds) per configuration: ~1-2 minutes a run on a 2-core CPU (the paper-size face-vid2vid
# renders at ~4-6 s/frame at 256 px and ~12-18 s/frame at 512 px there), seconds to a minute on a GPU.
DEFAULT_SECONDS = {"cpu": {"smoke64": 10.0, "paper-seq": 10.0, "paper256": 16 / FPS, "paper512": 8 / FPS},
                   "cuda": {"smoke64": 60.0, "paper-seq": 60.0, "paper256": 10.0, "paper512": 5.0}}
SENTENCES = ["Please bring me my umbrella before the rain.",
             "This portrait was animated from a single photo and a speech recording.",
             "The quick brown fox jumps over the lazy dog near the river bank."]
TINY_FV2V = dict(resolution=32, num_kp=4, base=8, volume_channels=4, depth=4, generator_blocks=1, use_vgg=False)


# -- inputs ------------------------------------------------------------------------------------------------
def speech_wav(path: Path, seconds: float, _cache: dict = {}) -> Path:
    """TTS speech (leading/trailing silence trimmed, 0.15 s pauses) tiled to `seconds` (+ 20 ms so the
    animator's int(duration * fps) frame count is exactly round(seconds * fps))."""
    from spacex.tts import synthesize

    if "speech" not in _cache:
        parts, sr = [], None
        for i, text in enumerate(SENTENCES):
            u = synthesize(text, ("en-us+f3", "en-us+m3", "en-gb-x-rp+m1")[i % 3])
            voiced = np.flatnonzero(np.abs(u.audio) > 0.01 * np.abs(u.audio).max())
            sr = u.sample_rate
            parts += [u.audio[voiced[0]: voiced[-1] + 1], np.zeros(int(0.15 * sr), np.float32)]
        _cache["speech"] = (np.concatenate(parts).astype(np.float32), sr)
    speech, sr = _cache["speech"]
    n = int(round(round(seconds * FPS) / FPS * sr)) + int(0.02 * sr)
    return media.write_wav(path, np.resize(speech, n), sr)


def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()


# -- animators ---------------------------------------------------------------------------------------------
def paper_animator(cfg, fv2v_args: dict, device: str) -> Animator:
    torch.manual_seed(0)
    fv2v = FaceVid2Vid(**{**fv2v_args, "use_vgg": False}).eval()
    s2l = Speech2Landmarks(**cfg.s2l.model.to_dict()).eval()
    l2l = Landmarks2Latents(**{**cfg.l2l.model.to_dict(), "num_kp": fv2v.args.num_kp}).eval()
    posegen = PoseGen(**cfg.posegen.model.to_dict()).eval()
    return Animator(fv2v.to(device), s2l.to(device), l2l.to(device), posegen.to(device), cfg.preprocess.emotions,
                    device)


def tiny_animator(device: str) -> Animator:
    """tests/test_animate.py's untrained networks."""
    torch.manual_seed(0)
    return Animator(FaceVid2Vid(**TINY_FV2V).eval().to(device),
                    Speech2Landmarks(audio_dim=16, landmark_dim=8, hidden=16).eval().to(device),
                    Landmarks2Latents(num_kp=4, landmark_dim=8, audio_dim=8, source_dim=8, hidden=16).eval().to(device),
                    PoseGen(audio_dim=8, noise_dim=4, hidden=16).eval().to(device),
                    DEFAULT_EMOTIONS, device)


def n_params(animator: Animator) -> dict:
    nets = {"fv2v_inference": [animator.fv2v.appearance, animator.fv2v.canonical, animator.fv2v.headpose,
                               animator.fv2v.motion, animator.fv2v.generator],
            "s2l": [animator.s2l], "l2l": [animator.l2l], "posegen": [animator.posegen]}
    return {k: round(sum(p.numel() for m in v for p in m.parameters()) / 1e6, 3) for k, v in nets.items()}


# -- speed -------------------------------------------------------------------------------------------------
def timed_call(animator: Animator, wav: Path, out: Path, device: str) -> dict:
    """One streamed animation; per-stage seconds and frames/s. `source` (the appearance volume and keypoints,
    once per video) is timed by wrapping the instance's method; `encode+other` is the rest of the wall time
    (H.264 encoding of the streamed frames, AAC, the chunk bookkeeping)."""
    fv2v, spent = animator.fv2v, {"source": 0.0}
    original = fv2v.source_features

    def source_features(img):
        t0 = time.perf_counter()
        r = original(img)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        spent["source"] += time.perf_counter() - t0
        return r

    fv2v.source_features = source_features
    try:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        result = animator(photo(), wav, AnimateOptions(), stream_to=out)
        wall = time.perf_counter() - t0
    finally:
        del fv2v.source_features
    T = len(result.keypoints)
    sec = {**{k: round(v, 4) for k, v in result.timings.items()}, "source": round(spent["source"], 4)}
    sec["encode+other"] = round(wall - sum(sec.values()), 4)
    fps = {k: round(T / sec[k], 2) if sec[k] > 0 else None for k in ("landmarks", "keypoints", "render")}
    info = media.probe(out)
    return {"frames": T, "clip_seconds": round(T / FPS, 3), "wall_s": round(wall, 3), "seconds": sec,
            "frames_per_s": {**fps, "end_to_end": round(T / wall, 3)}, "real_time_factor": round(wall / (T / FPS), 2),
            "video": {"width": info.width, "height": info.height, "n_frames": info.n_frames,
                      "has_audio": info.has_audio}}


def speed(args, cfg_paper, tmp: Path) -> dict:
    out = {}
    # Warm-up: MTCNN and dlib loading, librosa's first calls, the encoder (a 1 s clip on the tiny networks).
    timed_call(tiny_animator(args.device), speech_wav(tmp / "warm.wav", 1.0), tmp / "warm.mp4", args.device)
    for name in args.configs:
        seconds = args.seconds or DEFAULT_SECONDS["cuda" if args.device.startswith("cuda") else "cpu"][name]
        if name == "smoke64":
            stages = ("fv2v", "s2l", "l2l", "posegen")
            if not all((Path(args.runs) / s / "last.pt").exists() for s in stages):
                print(f"{name:10s} not run: no trained checkpoints in {args.runs}")
                continue
            for s in stages:  # a private copy: a concurrent `dvc repro` may be rewriting them
                (tmp / "runs" / s).mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(args.runs) / s / "last.pt", tmp / "runs" / s / "last.pt")
            animator = Animator.from_runs(tmp / "runs", device=args.device)
            note = f"trained checkpoints {args.runs}"
        elif name == "paper-seq":
            animator = paper_animator(cfg_paper, {**TINY_FV2V, "num_kp": cfg_paper.fv2v.model.num_kp}, args.device)
            note = "paper-size S2L/L2L/PoseGen, 32 px stand-in face-vid2vid; random init (speed only)"
        else:
            res = int(name.removeprefix("paper"))
            animator = paper_animator(cfg_paper, {**cfg_paper.fv2v.model.to_dict(), "resolution": res}, args.device)
            note = f"paper fv2v.model with resolution {res}, paper-size S2L/L2L/PoseGen; random init (speed only)"
        wav, load = speech_wav(tmp / f"{name}.wav", seconds), os.getloadavg()[0]
        tries = [timed_call(animator, wav, tmp / f"{name}.mp4", args.device) for _ in range(args.repeat)]
        r = min(tries, key=lambda t: t["wall_s"])  # the least disturbed run: the cores are shared
        r["repeats_wall_s"] = [t["wall_s"] for t in tries]
        r.update(date=time.strftime("%Y-%m-%d %H:%M"), torch_threads=torch.get_num_threads(),
                 load_average_1min=[round(load, 2), round(os.getloadavg()[0], 2)],  # before, after: shared cores
                 note=note, resolution=animator.fv2v.args.resolution, num_kp=animator.fv2v.args.num_kp,
                 params_M=n_params(animator))
        out[name] = r
        f, s = r["frames_per_s"], r["seconds"]
        print(f"{name:10s} {r['resolution']:4d}px {r['frames']:5d} fr  landmarks {f['landmarks']:8.1f}  keypoints "
              f"{f['keypoints']:8.1f}  render {f['render']:7.2f}  end-to-end {f['end_to_end']:7.2f} frames/s  "
              f"(x{r['real_time_factor']} real time; photo {s['photo']:.2f}s audio {s['audio']:.2f}s "
              f"source {s['source']:.2f}s encode+other {s['encode+other']:.2f}s; load {r['load_average_1min']})  "
              f"[{note}]")
        del animator
    return out


# -- memory ------------------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_child(seconds: float, wav: str, out: str, device: str) -> None:
    """In a fresh process: animate `wav` with the tiny networks, streamed to `out`; print a JSON line with peak
    RSS overall and per phase. Phases: photo (MTCNN + dlib on the photo), audio (one decoding pass that
    measures the speech, blinks, gaze), frames (inference and H.264 while frames stream, the speech streamed
    through the MFCC window), audio+mux (the speech streamed again at 48 kHz into AAC, closing the file). Per phase: the largest sampled VmRSS (every 5 ms) and VmHWM at its end
    (the exact running peak)."""
    animator = tiny_animator(device)
    import spacex.animate.pipeline as pipeline

    phase, peaks, hwm, stop = ["before"], {}, {}, threading.Event()

    def enter(name):
        hwm[phase[0]] = _status_kb("VmHWM")
        phase[0] = name

    def sample():
        while not stop.is_set():
            kb = _status_kb("VmRSS")
            peaks[phase[0]] = max(peaks.get(phase[0], 0), kb)
            stop.wait(0.005)

    analyse_photo, write_video = animator._analyse_photo, pipeline.media.write_video

    def traced_analyse_photo(*a, **k):
        enter("photo")
        r = analyse_photo(*a, **k)
        enter("audio")
        return r

    per_minute, t_start = [], [0.0]

    def traced_write_video(path, frames, *a, **k):
        def it():
            enter("frames")
            t_start[0] = t = time.perf_counter()
            for i, frame in enumerate(frames, 1):
                yield frame
                if i % int(60 * FPS) == 0:  # wall seconds per clip-minute: does throughput hold up?
                    per_minute.append(round(time.perf_counter() - t, 2))
                    t = time.perf_counter()
            enter("audio+mux")
        r = write_video(path, it(), *a, **k)
        enter("after")
        return r

    animator._analyse_photo = traced_analyse_photo
    pipeline.media.write_video = traced_write_video
    baseline, hwm_start = _status_kb("VmRSS"), _status_kb("VmHWM")
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    result = animator(photo(), wav, AnimateOptions(), stream_to=out)
    wall = time.perf_counter() - t0
    stop.set()
    thread.join()
    hwm["after"] = _status_kb("VmHWM")
    T = len(result.keypoints)
    per_frame = sum(a.nbytes for a in (result.normalized_landmarks, result.posed_landmarks, result.keypoints,
                                       result.pose))
    mb = lambda kb: round(kb / 1024, 1)  # noqa: E731
    print(json.dumps({
        "seconds": seconds, "frames": T, "wall_s": round(wall, 2), "torch_threads": torch.get_num_threads(),
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "wall_s_per_clip_minute": per_minute,
        "baseline_rss_mb": mb(baseline), "hwm_before_call_mb": mb(hwm_start),
        "peak_rss_mb": mb(hwm["after"]),  # VmHWM: this process image's peak RSS
        # ru_maxrss also counts the forking parent's RSS before exec (Linux keeps the larger): not used
        "ru_maxrss_mb": mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "phase_peak_rss_mb": {k: mb(v) for k, v in peaks.items() if k != "before"},
        "phase_end_hwm_mb": {k: mb(v) for k, v in hwm.items() if k != "before"},
        "arrays_mb": {"per_frame_arrays": round(per_frame / 2**20, 2), "per_frame_bytes": round(per_frame / T, 1)},
        "video_frames": media.probe(out).n_frames}))


def memory(args, tmp: Path) -> dict:
    runs, rate, prev = {}, None, None
    for minutes in args.memory_minutes:
        seconds = 60.0 * minutes
        if rate is not None and seconds * rate > args.memory_budget_s:
            projected = round(seconds * rate, 1)
            print(f"memory {minutes:g} min: not run, projected {projected} s from the {prev:g} min run "
                  f"(> --memory-budget-s {args.memory_budget_s:g})")
            runs[f"{minutes:g}min"] = {"seconds": seconds, "not_run": True, "projected_wall_s": projected}
            continue
        wav = speech_wav(tmp / f"mem{minutes:g}.wav", seconds)
        cmd = [sys.executable, __file__, "--memory-child", str(seconds), str(wav), str(tmp / f"mem{minutes:g}.mp4"),
               "--device", args.device, "--threads", str(args.memory_threads)]
        t0, load = time.perf_counter(), os.getloadavg()[0]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"memory child failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["process_wall_s"] = round(time.perf_counter() - t0, 2)
        r["load_average_1min"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before, after
        runs[f"{minutes:g}min"] = r
        rate, prev = r["wall_s"] / seconds, minutes
        print(f"memory {minutes:g} min: {r['frames']} frames in {r['wall_s']} s ({r['timings_s']}); peak RSS "
              f"{r['peak_rss_mb']} MB (before the call {r['baseline_rss_mb']} MB, VmHWM {r['hwm_before_call_mb']} MB); "
              f"wall s per clip-minute {r['wall_s_per_clip_minute']}; sampled peak by phase "
              f"{r['phase_peak_rss_mb']}; VmHWM at phase ends {r['phase_end_hwm_mb']}; "
              f"arrays {r['arrays_mb']}")
    done = [(k, v) for k, v in runs.items() if not v.get("not_run")]
    summary = {"runs": runs, "model": f"tiny untrained face-vid2vid {TINY_FV2V} (memory scaling only)",
               "chunk": AnimateOptions().chunk, "torch_threads": args.memory_threads,
               "date": time.strftime("%Y-%m-%d %H:%M")}
    if len(done) >= 2:
        (ka, a), (kb, b) = done[0], done[-1]
        dmin = (b["seconds"] - a["seconds"]) / 60
        slope = lambda x, y: round((y - x) / dmin, 2)  # noqa: E731
        summary["growth_mb_per_min"] = {
            "peak_rss": slope(a["peak_rss_mb"], b["peak_rss_mb"]),
            **{f"phase_{p}": slope(a["phase_peak_rss_mb"][p], b["phase_peak_rss_mb"][p])
               for p in a["phase_peak_rss_mb"] if p in b["phase_peak_rss_mb"]},
            "per_frame_arrays": slope(a["arrays_mb"]["per_frame_arrays"], b["arrays_mb"]["per_frame_arrays"])}
        summary["peak_rss_above_first_mb"] = round(b["peak_rss_mb"] - a["peak_rss_mb"], 1)  # issue 17: <= 50 MB
        print(f"memory growth {ka} -> {kb}: {summary['growth_mb_per_min']} MB per minute of clip")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    ap.add_argument("--seconds", type=float, default=None, help="clip length for every speed configuration")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is kept")
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=CONFIGS)
    ap.add_argument("--runs", default="build/train", help="the smoke checkpoints (smoke64)")
    ap.add_argument("--memory-minutes", nargs="*", type=float, default=[1, 10])
    ap.add_argument("--memory-budget-s", type=float, default=360.0,
                    help="skip a memory run projected (from the previous one) to take longer; report the projection")
    ap.add_argument("--memory-threads", type=int, default=1,
                    help="torch threads of the memory runs (the 32 px model gains little from more, and one thread "
                         "does not stall when other processes share the cores)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", default="benchmarks/results/animate_throughput.json",
                    help="results file; an existing one is updated with the configurations run (see --replace)")
    ap.add_argument("--replace", action="store_true", help="overwrite the results file instead of merging")
    ap.add_argument("--memory-child", nargs=3, metavar=("SECONDS", "WAV", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        seconds, wav, out = args.memory_child
        memory_child(float(seconds), wav, out, args.device)
        return
    machine = {"cpu": cpu_model(), "cores": os.cpu_count(),
               "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
               "torch": torch.__version__, "device": args.device,
               "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None}
    print(f"machine: {machine}")
    report = {"date": time.strftime("%Y-%m-%d"), "machine": machine, "commands": [" ".join(sys.argv)], "fps": FPS,
              "photo": "skimage.data.astronaut()", "audio": "espeak-ng TTS speech tiled to the clip length"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        key = "speed" if args.threads is None else f"speed_threads{args.threads}"  # default threads: "speed"
        report[key] = speed(args, config.load("paper"), tmp) if args.configs else {}
        if not args.no_memory and args.memory_minutes:
            report["memory"] = memory(args, tmp)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not args.replace:  # merge: a run of some configurations updates only those
        old = json.loads(path.read_text())
        for k in {k for k in old if k.startswith("speed")} | {key}:
            report[k] = {**old.get(k, {}), **report.get(k, {})}
        report.setdefault("memory", old.get("memory"))
        report["commands"] = old.get("commands", []) + report["commands"]
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")



if __name__ == "__main__":
    main()
