"""The layout keeps its promises: imports point down the data flow, every DVC stage depends on all the code it
runs, and the committed notebooks are what tools/make_notebooks.py writes.

The import graph is tools/dvc_deps.py's: read statically (ast) from every `import` in spacex/, function-level
ones included, plus string constants that name a spacex module (importlib dispatch tables).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from dvc_deps import closure, modules, stages, used_files  # noqa: E402 (tools/ is not a package)


def test_animate_and_the_libraries_below_import_nothing_from_training_or_the_synthetic_corpus():
    inference = {m for m in modules() if m.startswith("spacex.animate")}
    below = {"spacex.media", "spacex.files", "spacex.errors", "spacex.crop", "spacex.motion", "spacex.gaze",
             "spacex.landmarks", "spacex.dlib_face", "spacex.checkpoint", "spacex.tts", "spacex.tracking"}
    below |= {m for m in modules() if m.startswith(("spacex.models", "spacex.preprocess"))}
    for root in sorted(inference | below):
        bad = sorted(m for m in closure({root}) if m.startswith(("spacex.train", "spacex.corpus.synth")))
        assert not bad, f"{root} imports {bad}: training and corpus code must not be needed to run it"
    for root in sorted(below):
        bad = sorted(m for m in closure({root}) if m.startswith(("spacex.animate", "spacex.evaluate")))
        assert not bad, f"{root} imports {bad}, which sit above it in the data flow"


@pytest.mark.parametrize("stage", sorted(stages()))
def test_every_dvc_stage_depends_on_all_the_code_it_runs(stage):
    s = stages()[stage]
    deps = [d for d in s.get("deps", []) if isinstance(d, str)]

    def covered(path: Path) -> bool:
        rel = path.relative_to(REPO).as_posix()
        return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)

    missing = sorted(p.relative_to(REPO).as_posix() for p in used_files(s) if not covered(p))
    assert not missing, f"dvc.yaml stage {stage} runs code it does not list in deps: {missing}"


def test_the_renderer_depends_on_the_stores_recipe_not_its_bytes():
    """train_fv2v reads the store and its pack by recipe (tools/dvc_deps.py BY_RECIPE): it lists everything the
    preprocessing and pack stages depend on (notebooks, code, settings) and the index of the splits it reads,
    not the store or pack folders, whose float arrays differ between CPU models, nor the whole corpus folder
    or the whole store's index, which change with the test split; the split indexes hold no array values and
    the MD5 of their clips' corpus files."""
    from dvc_deps import BY_RECIPE

    spec = stages()
    fv2v = spec["train_fv2v"]
    deps = set(fv2v["deps"])
    assert {"build/preprocess", "build/pack", "data", "build/preprocess/manifest.json"}.isdisjoint(deps)
    assert {"build/preprocess/splits/train.json", "build/preprocess/splits/val.json"} <= deps
    assert set(BY_RECIPE["train_fv2v"]) == {"preprocess", "pack"}
    for recipe in (spec[r] for r in BY_RECIPE["train_fv2v"]):
        missing = [d for d in recipe["deps"] if d not in ("build/preprocess", "data")  # the split indexes
                   and not any(d == x or d.startswith(x + "/") for x in deps)]
        assert not missing, missing
        uncovered = [q.split("  #")[0] for q in recipe["params"]
                     if not any(q == x or q.startswith(x + ".") for x in fv2v["params"])]
        assert not uncovered, uncovered  # every setting, or a section holding it


def test_the_store_index_holds_nothing_computed_from_the_arrays(tmp_path):
    """Two stores with the same clips and shapes but other float values (arrays and per-clip measurements, as
    another CPU gives) have byte-identical indexes: what train_fv2v depends on in place of the store."""
    import numpy as np

    from spacex.preprocess import store

    info = {"config_hash": "h", "settings": {"fps": 30.0}, "versions": {"torch": "x"}, "fps": 30.0}
    for name, seed in (("a", 0), ("b", 1)):
        rng = np.random.default_rng(seed)
        arrays = {"landmarks": rng.random((5, 68, 3), dtype=np.float32), "rotation": rng.random((5, 3), dtype=np.float32)}
        meta = {"clip_id": "c0", "split": "train", "n_frames": 5, "config_hash": "h", "nme": float(rng.random()),
                "sources": {"c0.mp4": "same corpus file"},
                "pose_error_deg": rng.random(3).tolist(), "shapes": {k: list(v.shape) for k, v in arrays.items()}}
        store.write_clip(tmp_path / name, "c0", arrays, meta)
        store.index(tmp_path / name, info)
    assert (tmp_path / "a/clips/c0.npz").read_bytes() != (tmp_path / "b/clips/c0.npz").read_bytes()
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    assert (tmp_path / "a/splits/train.json").read_bytes() == (tmp_path / "b/splits/train.json").read_bytes()
    assert json.loads((tmp_path / "a/manifest.json").read_text())["clips"]  # not two empty indexes


def test_a_split_index_changes_with_its_clips_corpus_files_only(tmp_path):
    """The renderer depends on the train and val split indexes: a new test clip leaves them byte-identical and
    changes the whole manifest; a training clip re-made from an edited corpus file changes the train index; a
    store clip without its corpus files' hashes (written before they existed) is redone, not indexed."""
    import numpy as np

    from spacex.preprocess import run, store

    corpus, out = tmp_path / "corpus", tmp_path / "store"
    (corpus / "clips").mkdir(parents=True)
    info = {"config_hash": "h", "settings": {"fps": 30.0}, "versions": {"torch": "x"}}

    def add(cid, split, video=None):
        for ext in (".mp4", ".json"):
            (corpus / "clips" / f"{cid}{ext}").write_bytes(video or cid.encode())
        meta = {"clip_id": cid, "split": split, "n_frames": 5, "config_hash": "h", "fps": 30.0,
                "sources": run.source_md5(corpus, cid), "shapes": {"rotation": [5, 3]}}
        store.write_clip(out, cid, {"rotation": np.zeros((5, 3), np.float32)}, meta)
        store.index(out, info)
        return {p.name: p.read_bytes() for p in [out / "manifest.json", *sorted((out / "splits").glob("*.json"))]}

    add("train_a", "train")
    before = add("val_a", "val")
    after = add("test_a", "test")
    assert after["train.json"] == before["train.json"] and after["val.json"] == before["val.json"]
    assert after["manifest.json"] != before["manifest.json"] and "test.json" in after
    assert set(json.loads(after["train.json"])["clips"][0]["sources"]) == {"train_a.mp4", "train_a.json"}
    assert add("train_a", "train", b"re-encoded")["train.json"] != after["train.json"]
    old = json.loads(store.paths(out, "val_a")["meta"].read_text())
    del old["sources"]
    store.paths(out, "val_a")["meta"].write_text(json.dumps(old))
    assert store.status(out, "val_a", "h") is None and store.status(out, "train_a", "h") == "done"
    store.index(out, info)
    assert not (out / "splits" / "val.json").exists()  # no val clip left: its index goes too


def test_each_stage_tracks_the_active_profile_only():
    for name, s in stages().items():
        params = [p for p in s.get("params", []) if isinstance(p, str)]
        fixed = [p for p in params if re.match(r"profiles\.(smoke|paper)\.", p)]
        assert not fixed, f"{name} tracks {fixed}: editing another profile would rerun it"


def test_derived_deps_are_written():
    """dvc.yaml holds exactly what tools/dvc_deps.py derives (no stale extra deps either)."""
    out = subprocess.run([sys.executable, str(REPO / "tools" / "dvc_deps.py"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout


def test_committed_notebooks_are_what_the_generator_writes(tmp_path):
    (tmp_path / "notebooks").mkdir()
    subprocess.run([sys.executable, str(REPO / "tools" / "make_notebooks.py")], cwd=tmp_path, check=True,
                   capture_output=True)
    made = sorted(p.name for p in (tmp_path / "notebooks").glob("*.ipynb"))
    assert made == sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    for name in made:
        assert (tmp_path / "notebooks" / name).read_text() == (REPO / "notebooks" / name).read_text(), \
            f"notebooks/{name} differs from tools/make_notebooks.py's output: regenerate it"


def test_notebook_gates_take_their_thresholds_from_params():
    """A notebook that stops the pipeline compares with a config value, never a number written in the cell."""
    import json

    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            for line in "".join(cell["source"]).splitlines() if cell["cell_type"] == "code" else []:
                if line.lstrip().startswith("assert "):
                    cond = line.split(",")[0]
                    assert not re.search(r"(?<![\w.\[\"'])\d+\.?\d*(?![\w\]])", cond.replace("== 0", "")), \
                        f"{nb.name}: threshold written in the notebook: {line.strip()}"


def test_config_depends_on_no_network_code():
    """The config types its model sections with spacex.models.args alone: every stage reads the config, so a
    network's code there would make every stage (the 70-minute renderer included) depend on every network."""
    bad = sorted(m for m in closure({"spacex.config"}) if m.startswith("spacex.models.") and m != "spacex.models.args")
    assert not bad, f"spacex.config imports {bad}"


def _layout_entries() -> dict[str, str]:
    """README's Layout block: {entry name (e.g. "evaluate/", "gaze.py motion.py", "tools/"): its text}."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("\n\n", 2)[1]
    entries: dict[str, str] = {}
    name = None
    for line in block.splitlines():
        m = re.match(r"^ {4}( {2})?(\S+(?: \S+\.py)*)\s{2,}(.*)$", line)
        if m and not line.startswith(" " * 20):
            name = m.group(2)
            entries[name] = m.group(3)
        elif name is not None:
            entries[name] += " " + line.strip()
    return entries


def test_readme_layout_names_every_module_of_the_tree():
    entries = _layout_entries()
    named = " ".join(entries)
    pkg = REPO / "spacex"
    for f in sorted(pkg.glob("*.py")):
        if f.stem != "__init__":
            assert re.search(rf"(^|\s){f.name}(\s|$)", named), f"README layout does not list spacex/{f.name}"
    for d in sorted(p for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        text = entries.get(f"{d.name}/")
        assert text is not None, f"README layout does not list spacex/{d.name}/"
        for f in sorted(d.rglob("*.py")):
            name = f.parent.name if f.stem == "__init__" else f.stem
            if f.parent != d or f.stem != "__init__":
                assert re.search(rf"\b{name}\b", text), f"README layout's {d.name}/ does not name {f.relative_to(pkg)}"
    for top in ("tools",):
        for f in sorted((REPO / top).glob("*.py")):
            assert f.name in entries[f"{top}/"], f"README layout's {top}/ does not name {f.name}"
    for name in entries:
        for part in name.split():
            assert (pkg / part.rstrip("/")).exists() or (REPO / part.rstrip("/")).exists(), \
                f"README layout lists {part}, which is not in the tree"


def test_the_pushed_renderer_matches_the_code_that_trains_it():
    """`make repro` pulls the trained renderer (stage train_fv2v, 55 min on 2 cores) instead of training it, as long
    as every dep recorded in dvc.lock is unchanged. A code or notebook dep edited without retraining (or, when the
    training is shown unchanged, `dvc commit train_fv2v`) makes a fresh clone retrain it: `dvc status` finds those
    (data and build outputs are absent in a fresh clone and are not checked here)."""
    run = subprocess.run([sys.executable, "-m", "dvc", "status", "train_fv2v", "--json"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    entries = json.loads(run.stdout or "{}").get("train_fv2v", [])
    changed = {}
    for e in entries:
        for kind in ("changed deps", "changed params"):  # params come nested: {file: {name: state}}
            for p, st in (e.get(kind, {}) if isinstance(e, dict) else {}).items():
                changed.update({f"{p}:{k}": v for k, v in st.items()} if isinstance(st, dict) else {p: st})
    edited = {p: st for p, st in changed.items() if p != "data" and not p.startswith("build/")}  # absent: not pulled
    assert not edited, (f"train_fv2v's recorded deps changed: {edited}; retrain it (dvc repro train_fv2v) or, when "
                        "its training is unchanged, re-record it (dvc commit train_fv2v)")
    # its git-tracked outs (metrics, curve: cache false) come from git, not the pull: committed with another run's
    # numbers than dvc.lock records, they make a fresh clone retrain it too
    outs = {p: st for e in entries if isinstance(e, dict) for p, st in e.get("changed outs", {}).items()}
    stale = {p: st for p, st in outs.items() if st == "modified" and not p.startswith("build/")}
    assert not stale, (f"train_fv2v's outs {stale} differ from dvc.lock: commit the files its last run wrote "
                       "(reports/train_fv2v/) with the dvc.lock and the pushed run folder")
