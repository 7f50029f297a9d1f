"""The `spacex` command line. Each subcommand is a thin shell over a library function.

    spacex corpus synth  --out data/synthtalk         generate the SynthTalk corpus (profile settings)
    spacex corpus ingest --layout mead SRC DST        map a real dataset into the kit's clip format
    spacex corpus check  data/synthtalk               decode every clip, verify streams, print figures
    spacex preprocess [--shard i/n]                   faces, landmarks, pose, eyes, gaze, MFCCs -> the store
    spacex pack [--shard i/n] [--sizes S ...]         the store's training view: memory-mapped shards, cropped frames
    spacex train STAGE [--set key=value ...]          train fv2v, s2l, posegen or l2l (torchrun -m spacex.cli train)
    spacex keypoints                                  every clip's keypoints from the trained face-vid2vid (for L2L)
    spacex ablation VARIANT                           one of the paper's ablations (params.yaml ablation.variants)
    spacex weights list|fetch                         external weight files (cache, checksums)
    spacex baselines setup NAME [--venv D] [--repo R] a baseline's own environment (its needs + the kit's torch)
    spacex baselines check [NAME]                     every file a baseline run needs, named before any inference
    spacex animate PHOTO AUDIO -o OUT.mp4             talking-head video with sound from the trained stages
    spacex config                                     print the resolved config of a profile

Every expected failure (a `spacex.errors.KitError`: bad input, missing file, busy run folder) is printed as
one line on stderr and exits with status 2; outputs are checked against inputs before any work starts.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=None, help="params.yaml profile (default: the one params.yaml names)")
    p.add_argument("--params", default=None, help="path to params.yaml (default: found from the working dir)")


def cmd_config(args) -> int:
    from spacex import config
    from spacex.evaluate.score import resolved

    print(json.dumps(resolved(config.load(args.profile, args.params)), indent=2))
    return 0


def cmd_synth(args) -> int:
    from spacex import config, files
    from spacex.corpus.synth.generate import generate

    overrides = {f"corpus.synth.{k}": v for k, v in
                 (("seed", args.seed), ("resolution", args.resolution), ("workers", args.workers),
                  ("portraits", args.portraits)) if v is not None}
    cfg = config.load(args.profile, args.params, overrides)
    out = args.out or cfg.corpus.main
    files.check_output_dir(out, [cfg.corpus.synth.portraits])
    summary = generate(cfg.corpus.synth, out, progress=not args.quiet)
    print(f"SynthTalk: {summary['clips']} clips {summary['splits']}, {summary['frames']} frames "
          f"({summary['seconds_of_video']} s), {summary['size_mb']} MB in {summary['generation_s']} s -> {out}")
    print(f"sanity: per-clip correlation of mouth opening with audio energy: median r = "
          f"{summary['mouth_energy_r_median']:.3f} (min {summary['mouth_energy_r_min']:.3f})")
    return 0


def cmd_ingest(args) -> int:
    from spacex.corpus.ingest import ingest

    report = ingest(args.layout, args.src, args.dst, fps=args.fps, workers=args.workers, progress=not args.quiet)
    print(json.dumps({k: v for k, v in report.items() if k != "skipped"}, indent=1))
    for path, reason in report["skipped"]:
        print(f"skipped {path}: {reason}")
    return 0


def cmd_check(args) -> int:
    from spacex.corpus.qc import check_corpus

    checks, summary = check_corpus(args.root)
    for c in checks:
        if not c.ok:
            print(f"BAD {c.clip_id}: {c.reason}")
    print(json.dumps(summary, indent=1))
    return 0 if summary["clips_ok"] == summary["clips"] else 1


def cmd_preprocess(args) -> int:
    from pathlib import Path

    from spacex import config, files
    from spacex.preprocess import run, store

    overrides = {f"preprocess.{k}": v for k, v in (("backend", args.backend), ("out", args.out),
                                                    ("device", args.device)) if v is not None}
    if args.root:
        overrides["corpus.root"] = args.root
    cfg = config.load(args.profile, args.params, overrides)
    files.check_output_dir(cfg.preprocess.out, [*cfg.corpus.roots()])
    if args.index:
        manifest = store.index(Path(cfg.preprocess.out), run.run_info(cfg))
        print(f"{len(manifest['clips'])} clips, {manifest['skipped']} skipped -> {cfg.preprocess.out}/manifest.json")
        return 0
    i, _, n = args.shard.partition("/")
    summary = run.run(cfg, shard=(int(i), int(n or 1)), workers=args.workers, progress=not args.quiet)
    print(json.dumps(summary, indent=1))
    return 0


def _overrides(pairs: list[str]) -> dict:
    import yaml

    from spacex.errors import ConfigError

    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise ConfigError(f"--set expects key=value, got {bad}")
    return {k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in pairs)}


def cmd_pack(args) -> int:
    from spacex import config, files
    from spacex.preprocess import pack

    cfg = config.load(args.profile, args.params, _overrides(args.set))
    files.check_output_dir(cfg.pack.out, [*cfg.corpus.roots(), cfg.preprocess.out])
    i, _, n = args.shard.partition("/")
    summary = pack.main(cfg, (int(i), int(n or 1)), args.sizes, workers=args.workers)
    print(json.dumps(summary, indent=1) if summary else f"shard {args.shard} written; then run `spacex pack`")
    return 0


def cmd_train(args) -> int:
    from spacex import config
    from spacex.train import stages

    cfg = config.load(args.profile, args.params, _overrides(args.set))
    stages.run(args.stage, cfg, stop_after=args.stop_after, report_dir=args.report)
    return 0


def cmd_keypoints(args) -> int:
    from spacex import config, files
    from spacex.train import keypoints

    cfg = config.load(args.profile, args.params, _overrides(args.set))
    files.check_output_dir(cfg.fv2v.keypoints, [*cfg.corpus.roots(), cfg.preprocess.out, cfg.fv2v.out])
    print(json.dumps(keypoints.main(cfg, report_dir=args.report, device=args.device), indent=1))
    return 0


def cmd_ablation(args) -> int:
    from spacex import config
    from spacex.train import ablation

    result = ablation.run_variant(config.load(args.profile, args.params, _overrides(args.set)), args.variant)
    print(json.dumps({k: result[k] for k in ("variant", "stage", "overrides", "metrics")}, indent=1))
    return 0


def cmd_weights(args) -> int:
    from spacex import weights

    if args.action == "list":
        for w in weights.REGISTRY.values():
            print(f"{w.name:14s} {weights.status(w.name):18s} {w.path()}\n{'':14s} used by: {w.used_by}\n"
                  f"{'':14s} sha256: {w.sha256_prefix}... (prefix checked)\n{'':14s} from: {w.url}")
        return 0
    for name in args.names:
        print(f"{name}: {weights.fetch(name)}")
    return 0


def animate_paths(args) -> tuple[list[Path], list[Path]]:
    """(outputs, inputs) of one `spacex animate` call: the mp4 (+ .npz and .panels.mp4 with --intermediates)
    and every file it reads (photo, audio, pose and gaze files, the checkpoints)."""
    out = Path(args.out)
    outputs = [out] + ([out.with_suffix(".npz"), out.with_suffix(".panels.mp4")] if args.intermediates else [])
    inputs = [Path(args.photo), Path(args.audio)]
    for spec in (args.pose, args.gaze):
        kind, sep, path = spec.partition(":")
        if sep and kind in ("video", "file"):
            inputs.append(Path(path))
    runs = Path(args.runs)
    inputs += [runs / name / "last.pt" for name in ("fv2v", "s2l", "l2l", "posegen")]
    return outputs, inputs


def cmd_animate(args) -> int:
    from spacex import devices, files
    from spacex.animate.pipeline import AnimateError, AnimateOptions, Animator

    if Path(args.out).suffix.lower() != ".mp4":
        raise AnimateError(f"output {args.out}: the video is an mp4; give a name ending in .mp4")
    files.check_outputs(*animate_paths(args))  # before any work: nothing is replaced
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    animator = Animator.from_runs(args.runs, device=devices.resolve(args.device), precision=args.precision,
                                  render_batch=args.render_batch)
    # frames go straight to a partial file, chunk by chunk (long clips do not fill memory), renamed when done
    result = animator(args.photo, args.audio, AnimateOptions(
        emotion=args.emotion, pose=args.pose, pose_seed=args.seed, blink=args.blink, gaze=args.gaze, fps=args.fps,
        chunk=args.chunk, faces=args.faces), stream_to=args.out, progress=not args.quiet)
    out = result.video
    if args.intermediates:
        result.save_intermediates(out)
        print(f"intermediates: {out.with_suffix('.npz')} {result.save_side_by_side(out)}")
    print(f"{out}: {len(result.keypoints)} frames at {result.fps} fps, "
          + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    return 0


def cmd_evaluate(args) -> int:
    from spacex import config, files
    from spacex.evaluate import score

    cfg = config.load(args.profile, args.params)
    files.check_output_dir(cfg.evaluate.out, [*cfg.corpus.roots()])
    files.check_output_dir(cfg.evaluate.reports, [*cfg.corpus.roots()])
    for method in args.methods:
        s = score.score_method(cfg, method, args.limit, progress=not args.quiet)
        print(f"{method}: {s['status']}" + (f" ({s['reason']})" if s.get("reason") else f", {s['clips']} clips"))
        for cid, why in s["skipped"]:
            print(f"  clip {cid} not scored: {why}")
        for metric, why in s["unavailable_metrics"].items():
            print(f"  {metric} not computed: {why}")
    return 0


def cmd_report(args) -> int:
    from spacex import config, files
    from spacex.evaluate import report

    cfg = config.load(args.profile, args.params)
    e = cfg.evaluate
    files.check_output_dir(e.report, [e.reports, *cfg.corpus.roots()])
    s = report.build_report(e.out, e.reports, e.report, videos=e.videos, wandb_project=cfg.wandb.project,
                            ablation_dir=cfg.ablation.reports, training_runs_dir=cfg.animate.runs)
    print(f"{e.report}/table.md; wandb: {s['wandb'].get('run_dir')}")
    return 0


def cmd_baselines(args) -> int:
    if args.action == "setup":
        from spacex.evaluate.baselines import envs

        if not args.name:
            raise envs.SetupError(f"setup needs a baseline: spacex baselines setup {{{','.join(envs.SPECS)}}}")
        envs.setup(args.name, Path(args.venv) if args.venv else None, Path(args.repo) if args.repo else None)
        return 0
    from spacex import config
    from spacex.evaluate import score
    from spacex.evaluate.baselines import ADAPTERS, make_adapters

    adapters = make_adapters(score.baselines_of(config.load(args.profile, args.params)), only_configured=False)
    missing = []
    for name in ([args.name] if args.name else list(ADAPTERS)):
        found = adapters[name].check()
        print(f"{name}: " + ("ready" if not found else "\n  ".join(["not ready:", *found])))
        missing += found
    return 1 if missing else 0


def build_parser() -> argparse.ArgumentParser:
    from spacex.config import AnimateConfig  # the animate defaults' one source

    parser = argparse.ArgumentParser(prog="spacex", description="SPACEx reproduction kit")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="print the resolved config of a profile")
    _add_profile(p)
    p.set_defaults(func=cmd_config)

    corpus = sub.add_parser("corpus", help="make, import and check corpora").add_subparsers(dest="corpus_cmd", required=True)

    p = corpus.add_parser("synth", help="generate the SynthTalk corpus (real TTS, parametric face, real portrait)")
    _add_profile(p)
    p.add_argument("--out", default=None, help="output folder (default: the profile's corpus.root)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: profile's)")
    p.add_argument("--resolution", type=int, default=None, help="frame side in pixels, even (default: profile's)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: profile's)")
    p.add_argument("--portraits", default=None, help="folder of extra portrait photos to animate")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_synth)

    p = corpus.add_parser("ingest", help="map VoxCeleb2 / MEAD / RAVDESS / a folder of videos into clip format")
    p.add_argument("--layout", required=True, choices=["voxceleb2", "mead", "ravdess", "folder"])
    p.add_argument("src", help="dataset root (read only: never modified)")
    p.add_argument("dst", help="output corpus folder")
    p.add_argument("--fps", type=float, default=None,
                   help="convert every clip to this frame rate (default: keep each clip's own rate; preprocessing "
                        "resamples the tracks to the model rate)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = corpus.add_parser("check", help="decode every clip of a corpus and print its figures")
    p.add_argument("root")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("preprocess", help="faces, landmarks, pose, normalized space, eyes, gaze, MFCCs -> store")
    _add_profile(p)
    p.add_argument("--root", default=None, help="corpus folder (default: the profile's corpus.root)")
    p.add_argument("--out", default=None, help="store folder (default: the profile's preprocess.out)")
    p.add_argument("--backend", default=None, choices=["groundtruth", "dlib", "face_alignment"],
                   help="landmark backend (default: the profile's)")
    p.add_argument("--shard", default="0/1", help="i/n: process every n-th clip starting at i (default 0/1)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: the profile's)")
    p.add_argument("--device", default=None, help="MTCNN and FAN: auto | cpu | cuda[:N] (default: preprocess.device, auto)")
    p.add_argument("--index", action="store_true", help="only rebuild manifest.json, splits/ and skipped.csv (after shards)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("pack", help="the store's training view: memory-mapped shards, frames cropped once")
    _add_profile(p)
    p.add_argument("--shard", default="0/1", help="i/n: write only every n-th shard starting at i, no index; "
                   "then run without --shard (default 0/1: every missing shard and the index)")
    p.add_argument("--sizes", type=int, nargs="*", default=[], help="frame sizes besides fv2v.model.resolution")
    p.add_argument("--workers", type=int, default=None, help="processes (default: preprocess.workers)")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help="config overrides (YAML values)")
    p.set_defaults(func=cmd_pack)

    from spacex.train.stages import STAGES

    p = sub.add_parser("train", help="train one stage (under torchrun: DistributedDataParallel)",
                       description="Train a stage from the store; resumes from RUN/last.pt. Multi-GPU: torchrun "
                                   "--nproc_per_node 8 -m spacex.cli train STAGE --profile paper.")
    p.add_argument("stage", choices=list(STAGES))
    _add_profile(p)
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. s2l.train.steps=200 (YAML values)")
    p.add_argument("--report", default=None, help="folder for the DVC metrics and plots (rank 0)")
    p.add_argument("--stop-after", type=int, default=None, help="stop after N steps of this call")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("keypoints", help="every clip's face-vid2vid keypoints (what L2L trains on)")
    _add_profile(p)
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help="config overrides (YAML values)")
    p.add_argument("--report", default=None, help="folder for summary.json")
    p.add_argument("--device", default="auto", help="the renderer's device: auto (cuda where there is one) | cpu | cuda[:N]")
    p.set_defaults(func=cmd_keypoints)

    p = sub.add_parser("ablation", help="train and score one of the paper's ablations (params.yaml ablation.variants)")
    p.add_argument("variant")
    _add_profile(p)
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE", help="config overrides (YAML values)")
    p.set_defaults(func=cmd_ablation)

    p = sub.add_parser("animate", help="photo + speech -> talking-head mp4 with sound",
                       description="Animate a portrait photo with a speech recording (wav, mp3, flac, or the audio "
                                   "of an mp4; any rate; mono or stereo) using the trained checkpoints.")
    p.add_argument("photo", help="portrait image (one face; with several, see --faces)")
    p.add_argument("audio", help="speech recording")
    p.add_argument("-o", "--out", required=True, help="output .mp4 (written only when complete)")
    p.add_argument("--runs", default="build/train", help="folder with fv2v/, s2l/, l2l/, posegen/ run folders")
    p.add_argument("--emotion", default="neutral:1.0",
                   help="emotion mix with intensities in [0, 1], e.g. happy:0.7,surprise:0.3 (default neutral:1.0)")
    p.add_argument("--pose", default="predicted",
                   help="head pose: predicted (from speech, PoseGen, seeded; several samples with --seed), fixed "
                        "(the photo's), video:PATH (transfer a video's head motion), file:PATH (.npy or .csv rows "
                        "of yaw,pitch,roll degrees)")
    p.add_argument("--seed", type=int, default=0, help="seed for predicted pose, automatic blinks and gaze")
    p.add_argument("--blink", default="auto", help="auto (natural rate) | off | times in seconds, e.g. 1.2,3.5")
    p.add_argument("--gaze", default="photo",
                   help="photo (the photo's, held) | auto (natural fixations and saccades, seeded) | "
                        "left | right | up | down | center | X,Y (iris offset in eye widths: x to the image right, "
                        "y down, |X| <= 0.3, |Y| <= 0.15; write a negative X as --gaze=-0.2,0) | "
                        "file:PATH (.npy or .csv, one X,Y row per frame)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--faces", default="largest", choices=["largest", "error"],
                   help="several faces in the photo: animate the largest (with a warning) or stop (default largest)")
    p.add_argument("--chunk", type=int, default=300,
                   help="frames per inference chunk; recurrent state is carried across chunks (default 300)")
    p.add_argument("--device", default="auto", help="auto (cuda when available, else cpu) | cpu | cuda | cuda:N")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16conv", "bf16"],
                   help="the renderer's arithmetic (default auto: the fastest that passed the precision check, "
                        "bf16 on CPUs with AMX / AVX512-BF16, else fp32); fp32: exact; bf16: autocast, ~3x faster on "
                        "AMX, frames ~53 dB from fp32; bf16conv: fp32 tensors with bf16 convolutions, ~2x, frames "
                        "within 1 grey level (docs/benchmarks.md, Precision)")
    p.add_argument("--render-batch", type=int, default=AnimateConfig.render_batch,
                   help=f"frames per renderer call (default {AnimateConfig.render_batch}: the fastest measured on CPU "
                        "in fp32, within 5%% of the fastest in bf16; docs/benchmarks.md, Render batch)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (default: torch's choice; 1 is faster when other jobs share the cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--intermediates", action="store_true",
                   help="also save normalized/posed landmarks, keypoints and pose as OUT.npz and the side-by-side "
                        "video OUT.panels.mp4 [normalized landmarks | posed landmarks | keypoints | output]")
    p.set_defaults(func=cmd_animate)

    p = sub.add_parser("evaluate", help="score methods on the test split under the protocol (eval/README.md)",
                       description="Score each METHOD (spacex, ground_truth, static, wav2lip, makeittalk, pcavs, or "
                                   "a folder name from evaluate.baselines.folders) -> reports/evaluate/METHOD.json.")
    _add_profile(p)
    p.add_argument("methods", nargs="+")
    p.add_argument("--limit", type=int, default=None, help="first N clips of the split")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="comparison table, plots, side-by-side videos, wandb run (reports/report)")
    _add_profile(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("baselines", help="prepare a baseline's environment (setup) or list what a run lacks (check)",
                       description="setup NAME: a venv with the baseline's needs and the kit's torch "
                                   "(spacex/evaluate/baselines/envs.py); check [NAME]: every file a run needs, "
                                   "as evaluate.baselines in params.yaml configures it (exit 1 if any is missing).")
    _add_profile(p)
    p.add_argument("action", choices=["setup", "check"])
    p.add_argument("name", nargs="?", choices=["wav2lip", "makeittalk", "pcavs"])  # = ADAPTERS (tests)
    p.add_argument("--venv", default=None, help="where to build it (default ~/.cache/spacex/baselines/NAME)")
    p.add_argument("--repo", default=None, help="the baseline's clone (its commit is recorded with the environment)")
    p.set_defaults(func=cmd_baselines)

    p = sub.add_parser("weights", help="external weight files: list them, fetch them (needs network)")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("names", nargs="*", help="registry names for fetch")
    p.set_defaults(func=cmd_weights)
    return parser


def main(argv: list[str] | None = None) -> int:
    from spacex.errors import at_the_edge

    args = build_parser().parse_args(argv)
    command = " ".join(["spacex", args.command] + ([args.corpus_cmd] if args.command == "corpus" else []))
    return at_the_edge(command, lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
