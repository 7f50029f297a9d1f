"""The training stages in pipeline order, and `run`: what `spacex train`, torchrun and the ablations call.

Kept out of spacex/train/__init__.py: the registry names every stage module, and a notebook that imports one stage
module must not depend on all of them (tools/dvc_deps.py reads these names as imports).
"""

# The training stages in pipeline order: name -> the module whose `main(cfg, stop_after, report_dir)` trains it.
STAGES = {"fv2v": "spacex.train.fv2v", "emotion": "spacex.train.emotion", "s2l": "spacex.train.s2l", "posegen": "spacex.train.posegen",
          "l2l": "spacex.train.l2l"}


def run(stage: str, cfg, stop_after: int | None = None, report_dir=None) -> dict:
    """Train one stage with a resolved config (the notebooks call each stage's `main` directly: the same function)."""
    import importlib

    return importlib.import_module(STAGES[stage]).main(cfg, stop_after=stop_after, report_dir=report_dir)
