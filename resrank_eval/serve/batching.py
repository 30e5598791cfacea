"""Dynamic batching: requests that arrive together share one model call, behind a bounded queue.

One worker task takes the first queued request, waits at most ``max_wait_s`` for more (never past
``max_batch``), and runs the batch on the one model thread; while it runs, new requests queue and form
the next batch, so under load batches fill without any wait. The queue is bounded: a full queue is
:class:`Overloaded` at once (the server's 503 with ``Retry-After``), not an unbounded backlog of
requests that would time out anyway. A request that times out while queued is dropped before it
reaches the model. Whatever ``run`` raises fails that batch's requests, never the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Overloaded(Exception):
    """The request was not served for lack of capacity (queue full, timed out, loading, shutting down): retry later."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Timing:
    """Where one request's time went: queued, then computed in a batch of ``batch_size``."""

    queue_ms: float
    compute_ms: float
    batch_size: int


@dataclass(eq=False)  # by identity: items are kept in a set
class _Item(Generic[T]):
    value: T
    future: asyncio.Future[Any]
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[T, R]):
    """Queue of requests -> batches for ``run``, which returns one result (or the exception to raise) per value.

    ``observe(batch_size, queue_s_each, compute_s)`` is told about every batch (metrics).
    """

    def __init__(self, run: Callable[[list[T]], list[R | BaseException]], executor: Executor, max_batch: int,
                 max_wait_s: float, max_queue: int,
                 observe: Callable[[int, list[float], float], None] | None = None) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch and max_queue must be at least 1, max_wait_s at least 0")
        self.run, self.executor, self.observe = run, executor, observe
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self.queue: asyncio.Queue[_Item[T]] = asyncio.Queue(max_queue)
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._waiting: set[_Item[T]] = set()
        self._computing = 0
        self._closing = False

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._loop(), name="micro-batcher")

    async def submit(self, value: T, timeout_s: float) -> tuple[R, Timing]:
        """Queue ``value`` and wait for its result; :class:`Overloaded` when full, closing, or past ``timeout_s``."""
        if self._closing:
            raise Overloaded("the server is shutting down")
        item = _Item(value, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            raise Overloaded(f"the queue is full ({self.queue.maxsize} requests waiting)") from None
        self._waiting.add(item)
        self._arrived.set()
        try:
            return await asyncio.wait_for(item.future, timeout_s)  # on timeout the future is cancelled: a queued item is skipped
        except TimeoutError:
            raise Overloaded(f"not served within {timeout_s:g} s") from None
        finally:
            self._waiting.discard(item)  # answered, timed out, or its client hung up (cancelled)

    def depth(self) -> int:
        """Requests queued for the model and still awaited: an abandoned one (timed out, client gone) stays in the queue
        until a batch takes and skips it, but nobody waits for it."""
        return len(self._waiting)

    def close(self) -> int:
        """Refuse new requests and stop the worker now, leaving the model's current batch to run unawaited; returns how
        many requests are left unfinished (queued, or in that batch). Draining is the server's: by the time it closes the
        batcher, every request was answered or cut off, so nobody waits for what is left."""
        self._closing = True
        if self._worker is not None:
            self._worker.cancel()
        return self.queue.qsize() + self._computing

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            self._waiting.difference_update(batch)
            self._computing = len(batch)
            live = [item for item in batch if not item.future.done()]  # timed out or cancelled while queued: skipped
            started = time.perf_counter()
            try:
                outcomes: list[Any] = await loop.run_in_executor(self.executor, self.run, [i.value for i in live]) if live else []
                if len(outcomes) != len(live):
                    raise RuntimeError(f"batch of {len(live)} requests gave {len(outcomes)} results")
            except Exception as exc:  # the worker survives whatever the model raises
                outcomes = [exc] * len(live)
            finished = time.perf_counter()
            for item, outcome in zip(live, outcomes):
                if item.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    timing = Timing((started - item.queued) * 1000, (finished - started) * 1000, len(live))
                    item.future.set_result((outcome, timing))
            if live and self.observe is not None:
                self.observe(len(live), [started - i.queued for i in live], finished - started)
            for _ in batch:
                self.queue.task_done()
            self._computing = 0

    async def _collect(self) -> list[_Item[T]]:
        """The first queued request and whatever joins it within ``max_wait_s``, up to ``max_batch``."""
        batch = [await self.queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            self._arrived.clear()
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return batch
