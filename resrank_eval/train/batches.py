"""Which examples and candidates each optimisation step sees, as a pure function of (seed, step).

Nothing here keeps state between steps: the example order of every epoch is a seeded permutation
and every per-example choice uses a generator seeded by the example's global position. A resumed
run therefore sees exactly the batches an uninterrupted one would, and DDP ranks split each global
batch without talking to each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from .data import TrainExample


@dataclass
class Batch:
    """Candidate lists of several queries; ``targets[b]`` indexes query b's contrastive positive."""

    queries: list[str]
    docids: list[list[str]]
    texts: list[list[str]]
    relevance: list[list[float]]
    targets: list[int]
    positives: list[frozenset[str]]
    first_stage: list[list[float]] = field(default_factory=list)
    """Each candidate's first-stage score, per query; empty when the training file has none."""

    def __len__(self) -> int:
        return len(self.queries)


class BatchSampler:
    """Micro-batches for (step, rank): ``batch_size`` queries each, ``accumulation`` per step."""

    def __init__(self, examples: list[TrainExample], batch_size: int, accumulation: int, max_candidates: int,
                 shuffle_candidates: float, seed: int, world_size: int = 1, rank: int = 0) -> None:
        self.examples = examples
        self.batch_size = batch_size
        self.accumulation = accumulation
        self.max_candidates = max_candidates
        self.shuffle_candidates = shuffle_candidates
        self.seed = seed
        self.world_size = world_size
        self.rank = rank
        self._orders: dict[int, list[int]] = {}

    @property
    def per_step(self) -> int:
        """Queries per optimisation step over all ranks (the effective batch size)."""
        return self.batch_size * self.accumulation * self.world_size

    def micro_batches(self, step: int) -> list[Batch]:
        first = step * self.per_step + self.rank * self.batch_size * self.accumulation
        positions = [first + i for i in range(self.batch_size * self.accumulation)]
        return [self._batch(positions[i:i + self.batch_size]) for i in range(0, len(positions), self.batch_size)]

    def _example(self, position: int) -> TrainExample:
        epoch, index = divmod(position, len(self.examples))
        if epoch not in self._orders:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._orders = {epoch: torch.randperm(len(self.examples), generator=generator).tolist()}
        return self.examples[self._orders[epoch][index]]

    def _batch(self, positions: list[int]) -> Batch:
        batch = Batch([], [], [], [], [], [])
        for position in positions:
            example = self._example(position)
            rng = random.Random(f"{self.seed}:{position}")
            keep, target = sample_candidates(example, self.max_candidates, self.shuffle_candidates, rng)
            relevance = example.relevance()
            batch.queries.append(example.query)
            batch.docids.append([example.candidates[i].docid for i in keep])
            batch.texts.append([example.candidates[i].text for i in keep])
            batch.relevance.append([relevance[i] for i in keep])
            batch.targets.append(keep.index(target))
            batch.positives.append(frozenset(example.positives))
            if example.candidates[0].score is not None:
                batch.first_stage.append([example.candidates[i].score for i in keep])
        return batch


def sample_candidates(example: TrainExample, limit: int, shuffle: float, rng: random.Random) -> tuple[list[int], int]:
    """Indices of at most ``limit`` candidates, always holding one positive (the contrastive target).

    With probability ``shuffle`` the list is shuffled, hiding the first-stage order from the
    reranker; otherwise the file's (first-stage) order is kept. 0 and 1 draw no random number.
    """
    positives = set(example.positives)
    target = rng.choice([i for i, c in enumerate(example.candidates) if c.docid in positives])
    rest = [i for i in range(len(example.candidates)) if i != target]
    keep = [target, *rng.sample(rest, min(len(rest), limit - 1))]
    if shuffle >= 1 or (shuffle > 0 and rng.random() < shuffle):
        rng.shuffle(keep)
    else:
        keep.sort()
    return keep, target
