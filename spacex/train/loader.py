"""Batches through torch.utils.data: a sampler that plans each step's items, workers that read and augment them.

The plan of step s is drawn in the main process from a generator seeded with (seed, s), as the loop has always
drawn batches: which clip, which window or frames, which augmentation seed. Rank r of W plans only items r::W
of the global batch (the DistributedSampler's job, done per step). Workers turn a planned item into arrays
(`Task.item`: reads from the memory-mapped pack, crops, augments) and the collate function stacks them. An
item is a pure function of its plan, so the batches do not depend on the worker count or order: a resumed run
replays the lost steps exactly, and W ranks together see what one process sees.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def draw_clips(n: int, batch_size: int, generator: torch.Generator, weights=None) -> list[int]:
    """The clip index of each item of a global batch: uniform over n clips, or by `weights` (n,) probabilities
    (a mixed corpus: spacex.preprocess.packed.Packed.clip_weights)."""
    if weights is None:
        return torch.randint(n, (batch_size,), generator=generator).tolist()
    return torch.multinomial(torch.as_tensor(weights, dtype=torch.float64), batch_size, replacement=True,
                             generator=generator).tolist()


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


class StepPlans(Sampler):
    """Yields, for steps start .. steps - 1, this rank's planned items of the step's global batch."""

    def __init__(self, task, seed: int, start: int, steps: int, rank: int, world: int):
        self.task, self.seed, self.start, self.steps, self.rank, self.world = task, seed, start, steps, rank, world

    def __len__(self) -> int:
        return max(self.steps - self.start, 0)

    def __iter__(self):
        for step in range(self.start, self.steps):
            yield self.task.plan(step, self.rank, self.world, step_generator(self.seed, step))


class _Items(Dataset):
    """Indexed by a planned item (not an integer): the task reads it."""

    def __init__(self, task):
        self.task = task

    def __getitem__(self, planned):
        return self.task.item(planned)


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # workers read and augment; the main process keeps the cores for the model


def loader(task, seed: int, start: int, steps: int, rank: int, world: int, workers: int = 0) -> DataLoader:
    """The batches of steps start .. steps - 1 for this rank, read by `workers` processes (0: in this one)."""
    return DataLoader(_Items(task), batch_sampler=StepPlans(task, seed, start, steps, rank, world),
                      collate_fn=task.collate, num_workers=workers, worker_init_fn=_one_thread if workers else None,
                      prefetch_factor=2 if workers else None, persistent_workers=False,
                      # its own generator: without one, DataLoader draws a base seed from torch's global generator,
                      # whose state checkpoints carry (a resumed run would be one draw off)
                      generator=torch.Generator().manual_seed(seed))
