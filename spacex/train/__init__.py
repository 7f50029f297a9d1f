"""Training: one module per stage (its data, its Task, its main), one loop for all (`trainer`).

    spacex train STAGE [--profile P] [--set key=value ...]
    torchrun --nproc_per_node 8 -m spacex.cli train STAGE --profile paper

The registry of stages (`STAGES`, `run`) is `spacex.train.stages`.
"""
