"""Write the thin pipeline notebooks: a markdown title, a cell tagged `parameters`, then calls into spacex.

Notebooks are generated so that they stay thin and output-free; edit this file, then run
`python tools/make_notebooks.py`.
"""
import json


def write_notebook(path: str, title: str, params: str, cells: list[str]) -> None:
    def code(src: str, tags: list[str] | None = None) -> dict:
        c = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
        if tags:
            c["metadata"]["tags"] = tags
        return c

    doc = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": title}, code(params, ["parameters"])]
        + [code(c) for c in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    for i, c in enumerate(doc["cells"]):
        c["id"] = f"cell-{i}"
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


write_notebook(
    "notebooks/00_corpus.ipynb",
    "# 00 corpus: check the raw corpus and record its figures\n\n"
    "Decodes every clip of the profile's corpus (video and audio streams, durations within one frame, "
    "ground-truth frame counts) and, for SynthTalk, the sanity figure: per-clip correlation of mouth opening "
    "with audio energy.\nOutputs: `reports/corpus/summary.json` (DVC metrics), `clips.csv`, `mouth_energy.png`.",
    'profile = "smoke"  # params.yaml profile\nroot = ""  # corpus folder; empty: corpus.root of the profile\n'
    'out_dir = "reports/corpus"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.corpus import qc\n\n"
        "os.chdir(config.repo_root())  # paths below are relative to the repository\n"
        "cfg = config.load(profile)\nprint(cfg.dumps())",
        "summary = qc.write_report(root or cfg.corpus.main, out_dir, workers=cfg.preprocess.workers)\nsummary",
        'bad = summary["clips"] - summary["clips_ok"]\n'
        'assert bad == 0, f"{bad} clips failed the checks: see {out_dir}/clips.csv"',
        'from IPython.display import Image\n\nImage(os.path.join(out_dir, "mouth_energy.png"))',
    ],
)


write_notebook(
    "notebooks/01_preprocess.ipynb",
    "# 01 preprocess: faces, landmarks, head pose, normalized space, eyes, MFCCs\n\n"
    "Runs `spacex.preprocess` over the profile's corpus into the store (`build/preprocess`: arrays per clip, "
    "manifest, skip report). Finished clips are not redone. For larger corpora run shards from the shell "
    "(`spacex preprocess --shard i/n`) and this notebook only indexes and reports.\n"
    "Outputs: `reports/preprocess/summary.json` (DVC metrics), `skipped.csv`, `landmarks_pose.png`.",
    'profile = "smoke"  # params.yaml profile\nout_dir = "reports/preprocess"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.preprocess import report, run\n\n"
        "os.chdir(config.repo_root())  # paths below are relative to the repository\n"
        "cfg = config.load(profile)\nprint(cfg.dumps())",
        "summary = run.run(cfg)\nsummary",
        "report.write_report(summary, cfg.corpus.main, cfg.preprocess.out, out_dir)",
        'from IPython.display import Image\n\nImage(os.path.join(out_dir, "landmarks_pose.png"))',
    ],
)


write_notebook(
    "notebooks/02_pack.ipynb",
    "# 02 pack: the store's training view\n\n"
    "Packs the store (`build/preprocess`) into memory-mapped shards (`build/pack`): every clip's per-frame arrays and "
    "audio, and the frames decoded and cropped once at the renderer's resolution. Training reads them lazily through "
    "DataLoaders. For larger corpora write shards from the shell (`spacex pack --shard i/n`) and this notebook "
    "writes what is missing and the index.\nOutputs: `build/pack`, `reports/pack/summary.json` (DVC metrics).",
    'profile = "smoke"  # params.yaml profile\nout_dir = "reports/pack"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.preprocess import pack\n\n"
        "os.chdir(config.repo_root())  # paths below are relative to the repository\n"
        "cfg = config.load(profile)\nprint(cfg.dumps())",
        "pack.main(cfg, report_dir=out_dir)",
    ],
)


write_notebook(
    "notebooks/05_train_emotion.ipynb",
    "# 05 train the emotion classifier\n\n"
    "A per-frame emotion classifier (normalized landmarks + MFCCs -> emotion probabilities and intensity) trained on "
    "the labeled clips, scored on held-out labeled clips, and applied to the unlabeled ones (VoxCeleb2), whose "
    "per-frame vectors S2L, PoseGen and L2L then train with (METHOD.md). SynthTalk is all labeled: the default run "
    "trains and scores it, and predicts nothing.\n"
    "Outputs: `build/train/emotion` (checkpoint, log), `build/emotion` (per-frame vectors of unlabeled clips, "
    "index.json), `reports/train_emotion/metrics.json` (accuracy on val and test against chance).",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/train_emotion"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import emotion\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.dumps())",
        "metrics = emotion.main(cfg, report_dir=report_dir)\nmetrics",
    ],
)


write_notebook(
    "notebooks/20_train_s2l.ipynb",
    "# 20 train Speech2Landmarks\n\n"
    "Trains S2L (audio MFCCs + the photo's normalized landmarks + FiLM(emotion) -> LSTM -> per-frame landmarks) "
    "on the preprocessed store, in this kernel on one device. For several GPUs run the same stage under torchrun "
    "(a Jupyter kernel cannot): `torchrun --nproc_per_node 8 -m spacex.cli train s2l --profile paper --report reports/train_s2l`.\n"
    "Outputs: `build/train/s2l` (checkpoint, log, stats), `reports/train_s2l/metrics.json` (DVC metrics: validation "
    "against the 'repeat the source landmarks' baseline), `curve.csv`.",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/train_s2l"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import s2l\n\n"
        "os.chdir(config.repo_root())  # paths below are relative to the repository\n"
        "cfg = config.load(profile)\nprint(cfg.dumps())",
        "metrics = s2l.main(cfg, report_dir=report_dir)\nmetrics",
        'assert metrics["mouth_lmd"] < metrics["baseline_mouth_lmd"], "S2L did not beat repeating the source landmarks"',
    ],
)


write_notebook(
    "notebooks/25_train_posegen.ipynb",
    "# 25 train PoseGen (head pose from speech)\n\n"
    "Stochastic head-pose sequences from audio (best-of-K training). Multi-GPU: "
    "`torchrun --nproc_per_node 8 -m spacex.cli train posegen --profile paper --report reports/train_posegen`.\n"
    "Outputs: `build/train/posegen`, `reports/train_posegen/metrics.json`.",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/train_posegen"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import posegen\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.dumps())",
        "metrics = posegen.main(cfg, report_dir=report_dir)\nmetrics",
        'assert metrics["motion_ratio_rotation"] > cfg.posegen.min_motion_ratio, "PoseGen samples barely move"',
    ],
)


write_notebook(
    "notebooks/10_train_fv2v.ipynb",
    "# 10 train face-vid2vid\n\n"
    "Self-reenactment training of face-vid2vid (appearance volume, canonical keypoints, head pose + expression, "
    "motion field with occlusion, generator, multi-scale discriminator). SPACEx uses it pretrained and frozen: "
    "the smoke renderer's run folder is versioned in the embedded DVC remote (`dvc pull` brings it, and `dvc repro` "
    "skips this stage while its deps are unchanged; docs/training.md says how long it takes to retrain). "
    "Multi-GPU: `torchrun --nproc_per_node 8 -m spacex.cli train fv2v --profile paper "
    "--report reports/train_fv2v`.\nOutputs: `build/train/fv2v` (checkpoint, log, samples), "
    "`reports/train_fv2v/metrics.json` (reconstruction vs 'copy the source frame').",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/train_fv2v"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import fv2v\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.dumps())",
        "metrics = fv2v.main(cfg, report_dir=report_dir)\nmetrics",
        'assert metrics["l1"] < metrics["baseline_copy_l1"], "face-vid2vid did not beat copying the source frame"',
    ],
)

write_notebook(
    "notebooks/15_keypoints.ipynb",
    "# 15 keypoints: what Landmarks2Latents learns to predict\n\n"
    "Every clip's face-vid2vid keypoints (source, canonical and per-frame driving), extracted with the trained, "
    "frozen renderer from the store's face crops. Same as `spacex keypoints`.\n"
    "Outputs: `build/keypoints/<clip>.npz`, `reports/keypoints/summary.json`.",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/keypoints"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import keypoints\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.dumps())",
        "summary = keypoints.main(cfg, report_dir=report_dir)\nsummary",
        'assert summary["clips"], "no clip got keypoints"',
    ],
)

write_notebook(
    "notebooks/30_train_l2l.ipynb",
    "# 30 train Landmarks2Latents\n\n"
    "Maps posed landmark motion + audio + the source keypoints (FiLM on emotion) to face-vid2vid driving keypoints, "
    "trained on the keypoints extracted by stage `keypoints`. The ablation switch is `l2l.model.inputs` "
    "(`audio+landmarks`, `landmarks`, `audio`): `dvc exp run -S 'profiles.smoke.l2l.model.inputs=landmarks'`.\n"
    "Outputs: `build/train/l2l`, `reports/train_l2l/metrics.json` (keypoint L1 vs 'source keypoints').",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/train_l2l"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import l2l\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.dumps())",
        "metrics = l2l.main(cfg, report_dir=report_dir)\nmetrics",
        'assert metrics["kp_l1"] < metrics["baseline_source_kp_l1"], "L2L did not beat the source keypoints"',
    ],
)


write_notebook(
    "notebooks/40_infer.ipynb",
    "# 40 infer: animate the test split and a demo\n\n"
    "Each test clip's first frame is the photo, its own audio and emotion label drive it; plus the astronaut "
    "speaking a TTS sentence. The same as `spacex animate PHOTO AUDIO -o OUT.mp4` per item.\n"
    "Outputs: `build/animate/*.mp4` (+ .npz intermediates), `reports/animate/summary.json`.",
    'profile = "smoke"  # params.yaml profile\nreport_dir = "reports/animate"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.animate import batch\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.dumps())",
        "summary = batch.render_split(cfg, report_dir=report_dir)\nsummary",
        "from IPython.display import Video\n\nVideo(summary[\"demo\"], embed=True)",
    ],
)


write_notebook(
    "notebooks/41_explore.ipynb",
    "# 41 explore: try the controls (JupyterLab)\n\n"
    "Widgets for emotion, intensity, head pose, seed, blinks and gaze; each run shows the intermediate predictions "
    "(mouth opening, eye closure, gaze, head pose, keypoint motion), the side-by-side stage video and the result with "
    "sound. Needs the trained runs (`make repro`). Not a pipeline stage; with `interactive = False` (papermill) "
    "it runs the controls once without widgets.\n\n"
    "While a render runs the button reads *Rendering...* and is disabled; the line beside it says which settings "
    "the last video was made with. **After a page reload the controls are gone** (ipywidgets keeps no state "
    "across reloads): run the cells again (Run > Run All Cells).",
    'runs = "build/train"  # trained checkpoints\nphoto = ""  # portrait image; empty: the astronaut\n'
    'audio = "build/animate/demo_speech.wav"  # speech recording\nout_dir = "build/explore"\n'
    'precision = "auto"  # the renderer\'s arithmetic: auto (the fastest that passed the precision check) | fp32 | bf16conv | bf16\n'
    'interactive = True',
    [
        "import os\n\nfrom skimage import data\n\nfrom spacex import config\n"
        "from spacex.animate import explore\nfrom spacex.animate.pipeline import AnimateOptions, Animator\n\n"
        "os.chdir(config.repo_root())\nanimator = Animator.from_runs(runs, precision=precision)\n"
        "image = photo or data.astronaut()",
        "# After a page reload the controls are gone (ipywidgets keeps no state across reloads): run this cell again.\n"
        "if interactive:\n    panel = explore.explorer(animator, image, audio, out_dir)\n    display(panel)\n"
        "else:  # papermill: one render, with the traces and both videos kept in the executed notebook\n"
        "    result, video, panels = explore.run(animator, image, audio, "
        "AnimateOptions(emotion=\"happy:0.7\", pose=\"fixed\"), out_dir)\n"
        "    explore.show(result, video, panels)",
    ],
)


write_notebook(
    "notebooks/35_ablation.ipynb",
    "# 35 ablation: one of the paper's ablations, trained and scored like the full model\n\n"
    "`variant` names a set of overrides of one training stage (params.yaml `ablation.variants`): L2L without "
    "audio or without landmarks, S2L in image space. Trained with the full model's steps and seed, scored by "
    "that stage's validation. Outputs: `build/ablation/<variant>/`, `reports/ablation/<variant>.json`.",
    'profile = "smoke"  # params.yaml profile\nvariant = "l2l_landmarks"  # a key of ablation.variants',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.train import ablation\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.ablation)",
        "result = ablation.run_variant(cfg, variant)\n"
        "{k: result[k] for k in ('variant', 'stage', 'overrides', 'metrics')}",
    ],
)


write_notebook(
    "notebooks/50_evaluate.ipynb",
    "# 50 evaluate: score one method on the test split under the protocol\n\n"
    "`method`: spacex (the animate stage's renders), ground_truth and static (reference rows), wav2lip / "
    "makeittalk / pcavs (official code, configured in params.yaml `evaluate.baselines`), or a folder name. "
    "A method that cannot run here is recorded as unavailable with the reason. Protocol and metric "
    "definitions: `eval/README.md`.\nOutputs: `build/evaluate/<method>/` (per-clip CSV, traces, scored crops), "
    "`reports/evaluate/<method>.json` (DVC metrics).",
    'profile = "smoke"  # params.yaml profile\nmethod = "spacex"',
    [
        "import os\n\nfrom spacex import config\nfrom spacex.evaluate import score\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\nprint(cfg.evaluate)",
        "summary = score.score_method(cfg, method)\n{k: v for k, v in summary.items() if k != 'skipped'}",
        "summary['skipped']",
    ],
)


write_notebook(
    "notebooks/60_report.ipynb",
    "# 60 report: the comparison\n\n"
    "One table over every method the evaluate stage scored (markdown + CSV; methods that could not run and "
    "metrics that could not be computed are listed with the reason), plots (per-metric bars, per-clip "
    "distributions, mouth opening vs audio), side-by-side videos with sound, the ablation table, and the same "
    "in a wandb run (offline unless WANDB_MODE says otherwise; `wandb sync reports/report/wandb/offline-run-*`).\n"
    "Outputs: `reports/report/`.",
    'profile = "smoke"  # params.yaml profile',
    [
        "import os\nfrom pathlib import Path\n\nfrom spacex import config\nfrom spacex.evaluate import report\n\n"
        "os.chdir(config.repo_root())\ncfg = config.load(profile)\ne = cfg.evaluate\n"
        "methods = [p.stem for p in sorted(Path(e.reports).glob('*.json'))]\nmethods",
        "summary = report.build_report(e.out, e.reports, e.report, methods=None, videos=e.videos,\n"
        "                              wandb_project=cfg.wandb.project, ablation_dir=cfg.ablation.reports,\n"
        "                              training_runs_dir=cfg.animate.runs)\n"
        "summary['wandb']",
        "from IPython.display import Image, Markdown, Video, display\n\n"
        "display(Markdown(Path(e.report, 'table.md').read_text()))\n"
        "display(Image(str(Path(e.report, 'metrics_bars.png'))))\n"
        "for clip, v in summary['videos'].items():\n    display(Video(str(Path(e.report, v['file'])), embed=True))",
    ],
)
