"""Data parallelism for ``encode``, dense ``retrieve`` and ``rerank``: one sharding rule, two launchers.

A job's work is a list of units in a fixed order -- corpus chunks of ``--shard-size`` passages, blocks
of ``--batch-size`` queries -- and shard ``i`` of ``n`` does every unit whose number is ``i`` modulo
``n``. Each unit is computed exactly as one process computes it (the same texts in the same batch:
batch composition changes float rounding), so the shards' outputs, merged in unit order, are the
single-process artefacts byte for byte.

Two launchers supply ``(i, n)``. Separate jobs (a Slurm array) pass ``--shard-id/--shard-num``
(Pyserini's names) and a last job runs ``resrank-eval merge``. Under ``torchrun`` the rank and world
size are the shard: the process group is gloo on CPU and NCCL on GPUs (each rank on its local GPU),
ranks add their progress to counters in the rendezvous store, so rank 0's bar shows the global count,
and rank 0 waits for every rank's shard and merges. Waiting polls the store instead of a collective
barrier: ranks may finish hours apart, longer than any collective timeout.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

from . import logs
from .errors import ResrankError

if TYPE_CHECKING:
    from torch.distributed import Store

T = TypeVar("T")
POLL_S = 0.5


@dataclass(frozen=True)
class Shard:
    """Shard ``id`` of ``num``: owns the units whose number is ``id`` modulo ``num``."""

    id: int = 0
    num: int = 1

    def __post_init__(self) -> None:
        if self.num < 1 or not 0 <= self.id < self.num:
            raise ResrankError(f"--shard-id must be in 0..{self.num - 1} and --shard-num at least 1, got {self.id} and {self.num}")

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
        if unit_size < 1:
            raise ResrankError(f"--batch-size must be at least 1, got {unit_size}")
        return [list(items[start:start + unit_size]) for start in range(0, len(items), unit_size) if self.owns(start // unit_size)]


WHOLE = Shard()
_jobs = 0


class Job:
    """The processes that run one sharded command: which shard this one is, and who merges when."""

    def __init__(self, shard: Shard, store: Store | None = None) -> None:
        self.shard = shard
        self.store = store
        """The rendezvous store under torchrun; None for one process or one job of an array."""
        self._bars: dict[str, int] = {}
        self._last_bar: tuple[str, dict[str, Any]] | None = None

    def finish(self, name: str) -> bool:
        """Every process calls this once its shard is written; True where the merge should run now.

        Under torchrun rank 0 waits here (its bar keeps counting) until every rank has finished. A job
        of an array never merges: ``resrank-eval merge`` does, once all of them are done.
        """
        if self.store is None:
            return self.shard.whole
        finished = self.store.add(f"finished/{name}", 1)
        if self.shard.id != 0:
            return False
        with self._waiting_bar() as bar:
            while finished < self.shard.num:
                time.sleep(POLL_S)
                bar.refresh_from_store()
                finished = self.store.add(f"finished/{name}", 0)
        return True

    def bar(self, iterable: Any, disable: bool, kwargs: dict[str, Any]) -> tqdm:
        """A bar whose count and total sum over the ranks (``logs.progress`` calls this under torchrun)."""
        desc = str(kwargs.get("desc", "progress"))
        number = self._bars[desc] = self._bars.get(desc, -1) + 1
        key = f"bar/{desc}/{number}"
        self._last_bar = (key, {k: kwargs[k] for k in ("desc", "unit", "file") if k in kwargs})
        return _StoreBar(iterable, store=self.store, key=key, disable=disable or self.shard.id != 0, **kwargs)

    def _waiting_bar(self) -> contextlib.AbstractContextManager[Any]:
        """Rank 0's last bar, continued while the other ranks finish (a plain bar if it had none)."""
        key, kwargs = self._last_bar or ("bar/waiting for ranks/0", {"desc": "waiting for ranks"})
        return _StoreBar(None, store=self.store, key=key, follow=True, disable=logs.bars_disabled(), **kwargs)


class _StoreBar(tqdm):
    """A tqdm bar whose count and total are sums over all ranks, kept in the rendezvous store.

    Every rank adds to the counters (at most every ``POLL_S`` seconds, so a fast loop costs no network
    round trips); only rank 0's bar is drawn, the others' are disabled. ``follow`` opens a bar that
    only reads the counters.
    """

    def __init__(self, iterable: Any = None, *, store: Any, key: str, follow: bool = False, **kwargs: Any) -> None:
        self._store, self._key, self._pending, self._flushed = store, key, 0, time.monotonic()
        self._closed = False
        total = kwargs.get("total")
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        if not follow and total:
            store.add(f"{key}/total", int(total))
        kwargs["total"] = store.add(f"{key}/total", 0) or None
        kwargs.setdefault("leave", False)
        kwargs.setdefault("dynamic_ncols", True)
        super().__init__(iterable, **kwargs)
        if follow:
            self.refresh_from_store()

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable:
            yield item
            self.update(1)

    def update(self, n: float | None = 1) -> bool | None:
        self._pending += int(n or 0)
        if time.monotonic() - self._flushed >= POLL_S:
            self._flush()
        return None

    def refresh_from_store(self) -> None:
        """Show the global count and total (a drawn bar only: rank 0's)."""
        if self.disable:
            return
        self.total = self._store.add(f"{self._key}/total", 0) or None
        done = self._store.add(f"{self._key}/n", 0)
        if done > self.n:
            super().update(done - self.n)

    def _flush(self) -> None:
        if self._pending:
            self._store.add(f"{self._key}/n", self._pending)
            self._pending = 0
        self._flushed = time.monotonic()
        self.refresh_from_store()

    def close(self) -> None:
        if not getattr(self, "_closed", True):  # the last local counts reach the store once
            self._closed = True
            self._flush()
        super().close()


@contextlib.contextmanager
def sharded(shard_id: int | None = None, shard_num: int | None = None) -> Iterator[Job]:
    """The job this process belongs to: torchrun's ranks, one job of an array, or the whole work.

    Under torchrun (``WORLD_SIZE`` > 1) the process group is set up for the block and torn down after.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        if (shard_id is None) != (shard_num is None):
            raise ResrankError("pass --shard-id and --shard-num together (one job of an array), or neither")
        yield Job(Shard(shard_id or 0, shard_num or 1))
        return
    if shard_id is not None or shard_num is not None:
        raise ResrankError("--shard-id/--shard-num are for separate jobs; under torchrun the ranks are the shards")
    global _jobs
    _jobs += 1  # every rank runs the same commands in order, so the n-th job's keys agree across ranks
    with _torchrun_group(f"resrank/job-{_jobs}") as (store, rank, size):
        job = Job(Shard(rank, size), store)
        logs.route_bars(job.bar)
        try:
            yield job
        finally:
            logs.route_bars(None)


@contextlib.contextmanager
def _torchrun_group(prefix: str) -> Iterator[tuple[Store, int, int]]:
    """Join torchrun's rendezvous; the process group (gloo / NCCL) and our counters (under ``prefix``) share its store."""
    import torch
    import torch.distributed as dist

    store, rank, size = next(dist.rendezvous("env://"))
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # "cuda" now means this rank's GPU
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo",
                            store=dist.PrefixStore(f"{prefix}/process-group", store), rank=rank, world_size=size)
    try:
        yield dist.PrefixStore(f"{prefix}/counts", store), rank, size
    finally:
        dist.destroy_process_group()


def intra_op_threads(requested: int | None = None) -> int:
    """torch's intra-op thread count, set to ``requested`` when given.

    An effective argument of every step that computes with torch: float sums split over more or fewer
    threads round differently in the last digits, and torchrun starts each process with one thread.
    """
    import torch

    if requested is not None:
        torch.set_num_threads(requested)
    return torch.get_num_threads()
