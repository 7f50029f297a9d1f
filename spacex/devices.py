"""Where the kit's networks run: one rule for preprocessing, keypoint extraction, training, animate and evaluate.

    resolve("auto")    # cuda where torch sees a GPU, else cpu
    resolve("cuda:1")  # that GPU; an error naming the device when there is none
    resolve("cpu")

A device string is auto | cpu | cuda | cuda:N. `auto` is every stage's default, so the same profile runs on a
laptop and on a GPU node; CPU results are the ones the committed reports are made with (docs/benchmarks.md says
what differs on a GPU).
"""
from __future__ import annotations

import re

import torch

from spacex.errors import ConfigError

_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve(spec: str, local_rank: int | None = None) -> torch.device:
    """The torch.device for `spec`; `local_rank` picks the GPU of a DDP rank for auto / cuda."""
    spec = str(spec)
    if not _SPEC.match(spec):
        raise ConfigError(f"device {spec!r}: choose auto, cpu, cuda or cuda:N")
    if spec == "cpu" or (spec == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r}: torch sees no GPU here (use auto or cpu)")
    index = int(spec.split(":")[1]) if ":" in spec else (local_rank or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {spec!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)
