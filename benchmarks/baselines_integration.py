"""The baseline adapters end to end against the baselines' real code: random-weight checkpoints, one SynthTalk clip.

    .venv/bin/python benchmarks/baselines_integration.py --repos ~/src --venvs ~/.cache/spacex/baselines

--repos holds the clones (Wav2Lip, MakeItTalk, Talking-Face_PC-AVS: github.com/Rudrabha/Wav2Lip,
adobe-research/MakeItTalk, Hangz-nju-cuhk/Talking-Face_PC-AVS); --venvs the environments `spacex baselines setup`
built (<venvs>/<name>/bin/python). Per baseline:
1. a scratch copy of the clone (the user's clone is never written to);
2. random-weight checkpoints from the repository's own classes, in the files and formats its CLI loads, and the
   third-party weights its code would fetch (VGG19, face-alignment's S3FD/FAN/depth) in a scratch torch hub cache
   (benchmarks/baselines_random_weights.py, run by the baseline's interpreter);
3. `spacex evaluate <name> --limit 1` through the kit's own evaluate code (score.score_method), with the run's
   outputs under --out, on the CPU route where there is no GPU.
Prints per baseline: ok/failed, seconds of its CLI, frames and fps it rendered, the device, and the commit; writes
benchmarks/results/baselines_integration.json. Needs the clones, the venvs and the SynthTalk corpus (dvc pull), so it
is not part of `make test` (CI has no clones). Random weights: plumbing only, the scores mean nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py

from spacex.evaluate.baselines.base import git_commit

REPO = Path(__file__).resolve().parents[1]
CLONES = {"wav2lip": "Wav2Lip", "makeittalk": "MakeItTalk", "pcavs": "Talking-Face_PC-AVS"}


def prepare(name: str, clone: Path, python: Path, out: Path) -> tuple[Path, Path, dict]:
    """Scratch copy of the clone with random-weight checkpoints; a scratch TORCH_HOME. -> (copy, torch_home, files)."""
    from spacex.evaluate.baselines.base import CPU_ROUTE
    from spacex.evaluate.baselines.pcavs import DEMO_VOX_FLAGS

    copy, torch_home = out / name / "clone", out / name / "torch_home"
    for d in (copy, torch_home):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(clone, copy, symlinks=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PCAVS_FLAGS": " ".join(DEMO_VOX_FLAGS)}
    env["PYTHONPATH"] = str(CPU_ROUTE)  # their constructors call .cuda() too (a no-op where there is a GPU)
    proc = subprocess.run([str(python), str(REPO / "benchmarks" / "baselines_random_weights.py"), name,
                           str(torch_home)], cwd=copy, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"random weights: {(proc.stderr.strip().splitlines() or [proc.returncode])[-1]}"
                           f"\n{proc.stderr[-3000:]}")
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    for path, cls in built["torchscript"].items():
        built["files"][path] = trace_face_alignment(cls, Path(path))
    return copy, torch_home, built["files"]


def trace_face_alignment(cls: str, path: Path) -> int:
    """A TorchScript archive as face-alignment publishes them (FAN: image (1, 3, 256, 256) -> the last hourglass's
    heatmaps (1, 68, 64, 64); depth: image + heatmaps (1, 71, 256, 256) -> (1, 68)), from the classes of the kit's
    face-alignment (the same torch as the baseline's, so its torch.jit.load reads it), random weights."""
    import torch
    from face_alignment.models.fan import FAN
    from face_alignment.models.resnet import ResNetDepth

    torch.manual_seed(0)
    if cls == "FAN":
        class Last(torch.nn.Module):  # face-alignment's archives return the last module's heatmaps, not the list
            def __init__(self):
                super().__init__()
                self.fan = FAN(4)

            def forward(self, x):
                return self.fan(x)[-1]

        net, example = Last().eval(), torch.rand(1, 3, 256, 256)
    else:
        net, example = ResNetDepth().eval(), torch.rand(1, 3 + 68, 256, 256)
    with torch.no_grad():
        torch.jit.trace(net, example).save(str(path))
    return path.stat().st_size


def face_box(cfg_root: Path) -> list[float]:
    """MTCNN's box of the face on the photo every baseline animates (the first test clip's first frame), as fractions
    of the image: what face-alignment's random-weight S3FD is told to return (baselines_check_site)."""
    import numpy as np

    from spacex import config, media
    from spacex.corpus import clip as clipfmt
    from spacex.preprocess.detect import _mtcnn

    cfg = config.load("smoke", cfg_root / "params.yaml")
    row = next(r for r in clipfmt.read_corpora(cfg.corpus.roots()) if r["split"] == cfg.evaluate.split)
    photo = next(media.iter_frames(clipfmt.clip_paths(row["corpus"], row["clip_id"])["video"]))[1]
    boxes, _ = _mtcnn("cpu").detect(photo)
    H, W = photo.shape[:2]
    x0, y0, x1, y1 = np.asarray(boxes, float)[0]
    return [x0 / W, y0 / H, x1 / W, y1 / H]


def run_one(name: str, clone: Path, python: Path, out: Path) -> dict:
    from spacex import config
    from spacex.evaluate import score
    from spacex.evaluate.baselines.base import CPU_ROUTE

    row = {"baseline": name, "status": "failed", "commit": git_commit(clone), "clone": str(clone)}
    t0 = time.time()
    try:
        copy, torch_home, files = prepare(name, clone, python, out)
        row["random_weight_files"] = files
        cfg = config.load("smoke", REPO / "params.yaml", {
            "evaluate.out": str(out / name / "evaluate"), "evaluate.reports": str(out / name / "reports"),
            f"evaluate.baselines.{name}.repo": str(copy), f"evaluate.baselines.{name}.python": str(python),
            f"evaluate.baselines.{name}.env": {
                "TORCH_HOME": str(torch_home), "PYTHONPATH": str(REPO / "benchmarks" / "baselines_check_site"),
                "SPACEX_CPU_ROUTE": str(CPU_ROUTE / "sitecustomize.py"), "SPACEX_CHECK_FACE_BOX": json.dumps(
                    face_box(cfg_root=REPO))}})
        before = tree_digest(copy)
        summary = score.score_method(cfg, name, limit=1, progress=True)
        row["clone_untouched"] = tree_digest(copy) == before  # the adapters never write into a clone
        row["evaluate"] = {k: summary.get(k) for k in ("status", "reason", "clips", "skipped")}
        renders = sorted((out / name / "evaluate" / name / "videos").glob("*.json"))
        if not row["clone_untouched"]:
            row["error"] = "the run changed files of the clone"
        elif summary["status"] == "ok" and renders:
            info = json.loads(renders[0].read_text())
            row.update(status="ok", seconds=info["seconds"], frames=info["frames_in"], fps=info["fps_in"],
                       frames_out=info["frames_out"], device=info["device"], notes=info["notes"])
        else:
            row["error"] = (summary.get("reason") or "; ".join(f"{c}: {w}" for c, w in summary["skipped"])
                            or "no render JSON written")
    except Exception as e:  # noqa: BLE001 - one baseline's failure is its row; the others still run
        row["error"] = f"{type(e).__name__}: {e}"
    row["wall_s"] = round(time.time() - t0, 1)
    return row


def tree_digest(root: Path) -> str:
    """sha256 over every file's path and content under root (links not followed)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repos", type=Path, required=True, help="folder holding the three clones")
    ap.add_argument("--venvs", type=Path, required=True, help="folder holding <name>/bin/python per baseline")
    ap.add_argument("--only", nargs="*", default=list(CLONES), choices=list(CLONES))
    ap.add_argument("--out", type=Path, default=REPO / "build" / "baselines_integration")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "baselines_integration.json")
    args = ap.parse_args()
    os.chdir(REPO)  # the corpus and params are found from the repository root
    rows = []
    for name in args.only:
        clone, python = args.repos / CLONES[name], args.venvs / name / "bin" / "python"
        print(f"== {name}: {clone} ({git_commit(clone)}), {python}", flush=True)
        rows.append(run_one(name, clone, python, args.out.resolve()))
        r = rows[-1]
        print(f"{name}: {r['status']}" + (f", CLI {r['seconds']:.0f} s, {r['frames']} frames at {r['fps']:g} fps on "
                                        f"the {r['device']}" if r["status"] == "ok" else f": {r.get('error')}"),
              flush=True)
    print("\n| baseline | result | CLI seconds | frames | fps | device | clone untouched | commit |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['baseline']} | {r['status']} | {r.get('seconds', '')} | {r.get('frames', '')} | "
              f"{r.get('fps', '')} | {r.get('device', '')} | {r.get('clone_untouched', '')} | "
              f"{(r['commit'] or '')[:7]} |")
    previous = json.loads(args.results.read_text()) if args.results.exists() else {}
    results = {**previous.get("baselines", {}), **{r["baseline"]: r for r in rows}}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "cpu": cpu_model(),
                                        "baselines": results}, indent=1))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
