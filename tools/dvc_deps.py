"""The code deps of every DVC stage, derived from the import graph instead of listed by hand.

    python tools/dvc_deps.py          rewrite the spacex/ code deps of each stage in dvc.yaml
    python tools/dvc_deps.py --check  exit 1 and name the stages whose deps differ (tests/test_structure.py)

A stage runs one notebook; the spacex modules it needs are the notebook's imports and, transitively, every
`import` in spacex/ (read with ast, function-level imports included, plus string constants that name a spacex
module: importlib dispatch tables). A folder is listed when every module below it is needed, else the files.
Non-Python deps under spacex/ (data files) and every other dep (notebooks, data, build outputs) are kept.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from functools import lru_cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "spacex"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    """{module name: file} for every module of the spacex package."""
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def targets(name: str, names: list[str]) -> set[str]:
    """`from name import a, b`: the module, and name.a where that is itself a module."""
    mods = modules()
    return ({name} if name in mods else set()) | {f"{name}.{n}" for n in names if f"{name}.{n}" in mods}


@lru_cache(maxsize=1)
def graph() -> dict[str, frozenset[str]]:
    """{module: the spacex modules it imports}, with the packages each import runs (a.b.c runs a/, a/b/)."""
    mods = modules()
    out = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= targets(node.module, [a.name for a in node.names])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods:
                deps.add(node.value)
        deps |= {".".join(d.split(".")[:i]) for d in set(deps) for i in range(1, d.count(".") + 1)}
        out[name] = frozenset(deps & set(mods) - {name})
    return out


def closure(roots: set[str]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph().get(m, ())
    return seen


def notebook_imports(nb: Path) -> set[str]:
    code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    roots = set()
    for m in re.finditer(r"^\s*from (spacex[\w.]*) import ([\w, ]+)", code, re.M):
        roots |= targets(m[1], [n.strip() for n in m[2].split(",")])
    roots |= {m[1] for m in re.finditer(r"^\s*import (spacex[\w.]*)", code, re.M) if m[1] in modules()}
    return roots


def stages() -> dict[str, dict]:
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {name: s.get("do", s) for name, s in spec.items()}


def stage_notebook(stage: dict) -> Path:
    return REPO / re.findall(r"\bnotebooks/\S+\.ipynb", stage["cmd"])[0]


def used_files(stage: dict) -> set[Path]:
    """Every spacex source file the stage's notebook runs (the package's own __init__ excluded: it is empty)."""
    return {modules()[m] for m in closure(notebook_imports(stage_notebook(stage)))} - {PKG / "__init__.py"}


# Stages that read another stage's output by its recipe, not its bytes: they depend on that stage's code (listed
# here too) and on a machine-independent index of the output instead of the output itself (dvc.yaml). The renderer
# is trained once and frozen; the preprocessing store's float arrays differ in their last bits between CPU models,
# and depending on them retrained it (67 min) on every other CPU.
BY_RECIPE = {"train_fv2v": ("preprocess", "pack")}


def stage_files(spec: dict[str, dict], name: str) -> set[Path]:
    """The spacex files stage `name` of `spec` (stages()) runs, with those of the stages it reads by recipe."""
    return used_files(spec[name]).union(*(used_files(spec[r]) for r in BY_RECIPE.get(name, ())))


def compact(files: set[Path]) -> list[str]:
    """Folders whose every module is used, else files; as repo-relative posix paths, sorted."""
    out, covered = [], set()
    for d in sorted({p.parent for p in files} | {a for p in files for a in p.parents if PKG in a.parents}, key=str):
        if d == PKG or any(c in d.parents for c in covered):
            continue
        if all(p in files for p in d.rglob("*.py")):
            covered.add(d)
            out.append(d)
    out += [p for p in sorted(files) if not any(c in p.parents for c in covered)]
    return sorted(p.relative_to(REPO).as_posix() for p in out)


def rewrite(text: str) -> tuple[str, list[str]]:
    """dvc.yaml with each stage's spacex/ code deps replaced by the derived ones; and the stages that changed."""
    lines, out, changed = text.split("\n"), [], []
    spec, stage, in_deps, indent, current = stages(), None, False, "", []

    def flush():
        nonlocal current
        if stage is None or not in_deps:
            return
        code = [d for d in current if d.endswith(".py") or (REPO / d).is_dir()]
        keep = [d for d in current if d not in code]
        new = compact(stage_files(spec, stage))
        if sorted(code) != new:
            changed.append(stage)
        out.extend(f"{indent}- {d}" for d in sorted(keep + new))
        current = []

    for line in lines:
        m = re.match(r"^  (\w[\w-]*):\s*$", line)
        if m:
            stage = m[1]
        if re.match(r"^\s+deps:\s*$", line):
            in_deps = True
            out.append(line)
            continue
        if in_deps:
            item = re.match(r"^(\s+)- (\S+)\s*$", line)
            if item and item[2].startswith("spacex/"):
                indent, current = item[1], current + [item[2]]
                continue
            if item:
                out.append(line)
                continue
            flush()
            in_deps = False
        out.append(line)
    return "\n".join(out), changed


def main(argv: list[str]) -> int:
    text = (REPO / "dvc.yaml").read_text()
    new, changed = rewrite(text)
    if "--check" in argv:
        if changed:
            print(f"dvc.yaml code deps differ from the import graph in: {', '.join(changed)} "
                  "(run python tools/dvc_deps.py)")
            return 1
        return 0
    (REPO / "dvc.yaml").write_text(new)
    print(f"updated: {', '.join(changed) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
