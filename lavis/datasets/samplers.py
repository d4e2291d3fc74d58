"""Samplers for distributed training and evaluation.

Training: every rank gets the same number of samples per epoch (the tail that does not divide evenly is
dropped, never padded with duplicates), the order is a function of ``(seed, epoch)`` only, and an epoch can
start part-way through -- which is what resuming at an optimizer step needs.

Evaluation: each rank takes every ``world_size``-th sample, with no padding, so gathered results hold
exactly one prediction per query.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableDistributedSampler(Sampler[int]):
    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0) -> None:
        self.size = len(dataset)
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.num_samples = self.size // num_replicas
        self.epoch = 0
        self.start_index = 0

    def set_epoch(self, epoch: int, start_index: int = 0) -> None:
        """Select the epoch's order; skip this rank's first ``start_index`` samples (resume mid-epoch)."""
        self.epoch = epoch
        self.start_index = start_index

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        order = order[: self.num_samples * self.num_replicas][self.rank :: self.num_replicas]
        return iter(order[self.start_index :])

    def __len__(self) -> int:
        return self.num_samples - self.start_index


class ShardSampler(Sampler[int]):
    def __init__(self, size: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.indices = list(range(rank, size, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
