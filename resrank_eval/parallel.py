"""Data parallelism for ``encode``, dense ``retrieve`` and ``rerank``: one sharding rule, two launchers.

A job's work is a list of units in a fixed order -- corpus chunks of ``--shard-size`` passages, blocks
of ``--batch-size`` queries -- and shard ``i`` of ``n`` does every unit whose number is ``i`` modulo
``n``. Each unit is computed exactly as one process computes it (the same texts in the same batch:
batch composition changes float rounding), so the shards' outputs, merged in unit order, are the
single-process artefacts byte for byte.

Two launchers supply ``(i, n)``. Separate jobs (a Slurm array) pass ``--shard-id/--shard-num``
(Pyserini's names) and a last job runs ``resrank-eval merge``. Under ``torchrun`` the rank and world
size are the shard (each rank on its local GPU), only rank 0 draws progress bars (its own shard's:
:func:`.logs.progress`), and rank 0 waits for every rank's shard and merges. The ranks share nothing but
torchrun's rendezvous store: no process group, no collective (ranks may finish hours apart, longer than
any collective timeout); waiting polls the store.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from .errors import ArgumentError, check_count

if TYPE_CHECKING:
    from torch.distributed import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_S = 0.5


@dataclass(frozen=True)
class Shard:
    """Shard ``id`` of ``num``: owns the units whose number is ``id`` modulo ``num``."""

    id: int = 0
    num: int = 1

    def __post_init__(self) -> None:
        if self.num < 1 or not 0 <= self.id < self.num:
            raise ArgumentError(f"`shard_id` must be in 0..{self.num - 1} and `shard_num` at least 1, got {self.id} and {self.num}")

    @property
    def whole(self) -> bool:
        return self.num == 1

    @property
    def label(self) -> str:
        """``shard-00001-of-00004``: sorts in shard order, names a shard's files."""
        return f"shard-{self.id:05d}-of-{self.num:05d}"

    def owns(self, unit: int) -> bool:
        return unit % self.num == self.id

    def blocks(self, items: Sequence[T], unit_size: int) -> list[list[T]]:
        """The blocks of ``unit_size`` items (in order) that this shard owns."""
        check_count(unit_size, "unit_size")
        return [list(items[start:start + unit_size]) for start in range(0, len(items), unit_size) if self.owns(start // unit_size)]


WHOLE = Shard()
_jobs = 0


@dataclass(frozen=True)
class Job:
    """The processes that run one sharded command: which shard this one is, and who merges when."""

    shard: Shard
    store: Store | None = None
    """The rendezvous store under torchrun; None for one process or one job of an array."""

    def finish(self) -> bool:
        """Every process calls this once its shard is written; True where the merge should run now.

        Under torchrun rank 0 waits here until every rank has finished. A job of an array never merges:
        ``resrank-eval merge`` does, once all of them are done.
        """
        if self.store is None:
            return self.shard.whole
        finished = self.store.add("finished", 1)
        if self.shard.id != 0:
            return False
        if finished < self.shard.num:
            log.info("waiting for the other ranks to finish their shards")
        while finished < self.shard.num:
            time.sleep(POLL_S)
            finished = self.store.add("finished", 0)
        return True


def sharded(shard_id: int | None = None, shard_num: int | None = None) -> Job:
    """The job this process belongs to: torchrun's ranks (``WORLD_SIZE`` > 1: this joins their rendezvous), one job of an
    array, or the whole work."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        if (shard_id is None) != (shard_num is None):
            raise ArgumentError("pass `shard_id` and `shard_num` together (one job of an array), or neither")
        return Job(Shard(shard_id or 0, shard_num or 1))
    if shard_id is not None or shard_num is not None:
        raise ArgumentError("`shard_id`/`shard_num` are for separate jobs; under torchrun the ranks are the shards")
    import torch
    import torch.distributed as dist

    global _jobs
    _jobs += 1  # every rank runs the same commands in order, so the n-th job's keys agree across ranks
    store, rank, size = next(dist.rendezvous("env://"))
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # "cuda" now means this rank's GPU
    return Job(Shard(rank, size), dist.PrefixStore(f"resrank/job-{_jobs}", store))


def intra_op_threads() -> int:
    """torch's intra-op thread count now.

    An effective argument of every step that computes with torch: float sums split over more or fewer
    threads round differently in the last digits, and torchrun starts each process with one thread.
    """
    import torch

    return torch.get_num_threads()


@contextmanager
def computing_on(threads: int) -> Iterator[None]:
    """torch (and FAISS, which shares its OpenMP pool) computes on ``threads`` threads inside the block, and on the
    caller's count again after it: a library call must not change the rounding of the process's next computation."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
