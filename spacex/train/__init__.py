"""Training: one module per stage (its data, its Task, its main), one loop for all (`trainer`).

    spacex train STAGE [--profile P] [--set key=value ...]
    torchrun --nproc_per_node 8 -m spacex.cli train STAGE --profile paper
"""

# The training stages in pipeline order: name -> the module whose `main(cfg, stop_after, report_dir)` trains it.
STAGES = {"fv2v": "spacex.train.fv2v", "s2l": "spacex.train.s2l", "posegen": "spacex.train.posegen",
          "l2l": "spacex.train.l2l"}


def run(stage: str, cfg, stop_after: int | None = None, report_dir=None) -> dict:
    """Train one stage with a resolved config (what `spacex train`, torchrun and the notebooks call)."""
    import importlib

    return importlib.import_module(STAGES[stage]).main(cfg, stop_after=stop_after, report_dir=report_dir)
