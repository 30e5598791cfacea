"""The handler every front end shares (the uvicorn app, a Ray Serve replica): one reranker behind a micro-batcher.

A request becomes one :class:`~resrank_eval.types.Ranking`, and a micro-batch of them one
``Reranker.rerank_batch`` call -- the library's own path, so a served request scores exactly as
``rerank`` scores the same ranking (``tests/serve/test_serve.py`` checks it). Documents are given in
first-stage order and have no first-stage scores, so each candidate's score is ``-rank``, as for a
run file without scores (MS MARCO's format): a model that reads the first stage (ResRank-mini's
``score_fusion`` and rank embeddings) reads the given order.

Candidate ids decide which vector a passage gets: the reranker de-duplicates passages by id across
a batch and reads cached vectors by id. A text document's id is a hash of its text behind a space
(``"text <hash>"``), so equal texts share one encoding, different texts never share an id, and no
dense-index id (ids have no whitespace) is ever hit by one; ``{"id": ...}`` documents use the index's
own id and its stored vector. A text repeated within one request gets a numbered id (its score still
depends on its position), so each request's ids are distinct, as the reranker's contract needs; each
copy is encoded (the reranker de-duplicates by id, and its encoder batches by length, so sharing a
vector by text there would change other passages' padding and their vectors' last bits).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ArgumentError
from ..formats.ids import shown
from ..formats.schema import check
from ..model.sources import BUNDLED_MODEL, BUNDLED_NFCORPUS_INDEX
from ..rerank.base import Reranked, Reranker
from ..types import Candidate, Query, Ranking
from .batching import MicroBatcher, Overloaded, Timing
from .dialects import RerankAnswer, RerankCall
from .metrics import Metrics

log = logging.getLogger(__name__)

WARM_UP = Ranking(Query("warm-up", "warm up the model"),
                  [Candidate("text warm-up-1", -1.0, "a first passage"), Candidate("text warm-up-2", -2.0, "a second passage")])


@dataclass(frozen=True)
class ServeSettings:
    """How a server runs: its model and the limits it answers with (``resrank-eval serve``'s options).

    ``model`` None is the bundled ResRank-mini, served with its NFCorpus dense index unless
    ``dense_index`` names another. ``api_key_env`` names the environment variable holding the API
    key (the key itself never travels in settings, e.g. to Ray replicas); unset means no key.
    """

    model: str | None = None
    dense_index: str | None = None
    device: str | None = None
    dtype: str | None = None
    max_batch: int = field(default=16, metadata={"min": 1})
    max_wait_ms: float = field(default=5.0, metadata={"min": 0})
    max_queue: int = field(default=256, metadata={"min": 1})
    max_documents: int = field(default=1000, metadata={"min": 1})
    max_chars: int = field(default=20_000, metadata={"min": 1})
    max_body_bytes: int = field(default=16 * 2**20, metadata={"min": 1})
    timeout_s: float = field(default=120.0, metadata={"above": 0})
    drain_s: float = field(default=30.0, metadata={"min": 0})
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        check(self, "serve settings")

    @property
    def model_path(self) -> str:
        return str(self.model if self.model is not None else BUNDLED_MODEL)

    @property
    def index_path(self) -> str | None:
        if self.dense_index is None and self.model is None:
            return str(BUNDLED_NFCORPUS_INDEX)
        return self.dense_index

    @property
    def model_name(self) -> str:
        """What responses name the model: its folder's name (``resrank-mini`` for the bundled one)."""
        return folder_name(self.model_path)

    def api_key(self) -> str | None:
        """The key from ``api_key_env``; an unset or empty variable is an error (a server meant to be closed never opens)."""
        return api_key_from(self.api_key_env)


def folder_name(path: str) -> str:
    """The name of the folder ``path`` names, also when it is ``.`` or ends in ``..`` (``serve --model .`` in the
    checkpoint's folder), whose own name is empty or ``..``; symbolic links are not followed (their name is the one given)."""
    return Path(os.path.abspath(path)).name


def api_key_from(variable: str | None) -> str | None:
    """The key in environment variable ``variable`` (None: no key); unset or empty is an error, never an empty key."""
    if variable is None:
        return None
    key = os.environ.get(variable, "")
    if not key:
        raise ArgumentError(f"`api_key_env` {variable}: that environment variable is unset or empty")
    return key


class RequestError(Exception):
    """A request the server refuses: HTTP ``status`` and the JSON ``field`` at fault."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status, self.field = status, field


class RerankService:
    """Loads and warms the reranker, checks requests against the limits, batches them, answers each.

    ``reranker`` given: served as is (tests); else :meth:`load` builds it from the settings with
    :func:`~resrank_eval.rerank.registry.load_reranker`. ``state`` is ``loading``, ``ready`` or ``failed``.
    """

    def __init__(self, settings: ServeSettings, reranker: Reranker | None = None,
                 on_load_failure: Callable[[BaseException], None] | None = None) -> None:
        self.settings = settings
        self.reranker = reranker
        self.on_load_failure = on_load_failure
        self.metrics = Metrics()
        self.index_ids: frozenset[str] | None = None
        self.state, self.error = "loading", ""
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="resrank-model")  # one model, one thread
        self.model_busy = False
        """The model thread is loading or computing a batch (set on that thread)."""
        self.batcher: MicroBatcher[Ranking, Reranked] | None = None

    def load(self) -> None:
        """Blocking: build the reranker (unless given), read the dense index's ids, run one warm-up batch."""
        if self.state == "ready":
            return
        if self.reranker is None:
            from ..rerank.registry import load_reranker

            self.reranker = load_reranker("resrank", model=self.settings.model_path, dense_index=self.settings.index_path,
                                          device=self.settings.device, dtype=self.settings.dtype)
        if self.settings.index_path is not None:
            from ..retrieve.dense import DenseVectors

            self.index_ids = frozenset(DenseVectors(self.settings.index_path).rows)
        self.reranker.rerank_batch([WARM_UP])
        self.state = "ready"
        log.info("model %s ready (dense index: %s)", self.settings.model_name, self.settings.index_path or "none")

    async def start(self) -> None:
        """Start the batcher, and load the model in the background unless :meth:`load` already ran (``/ready`` tells when)."""
        self.batcher = MicroBatcher(self.compute, self.executor, self.settings.max_batch, self.settings.max_wait_ms / 1000,
                                    self.settings.max_queue, self.metrics.observe_batch)
        self.metrics.track_queue(self.batcher.depth)
        self.batcher.start()
        if self.state != "ready":
            asyncio.get_running_loop().run_in_executor(self.executor, self._load_or_fail)

    async def stop(self) -> None:
        """Stop at once, without a drain of its own: the server (uvicorn, Ray) calls this once its drain is over, when every
        request was answered or cut off. A second wait here made a shutdown last up to twice ``drain_s``."""
        unfinished = self.batcher.close() if self.batcher is not None else 0
        if unfinished:
            log.warning("stopping with %d requests unfinished, cut off by the %g s drain or left by their clients", unfinished,
                        self.settings.drain_s)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _load_or_fail(self) -> None:
        try:
            with self._busy():
                self.load()
        except Exception as exc:
            self.state, self.error = "failed", str(exc) or type(exc).__name__
            log.error("model failed to load: %s", self.error)
            if self.on_load_failure is not None:
                self.on_load_failure(exc)

    def compute(self, rankings: list[Ranking]) -> list[Reranked | BaseException]:
        """:meth:`run_batch` on the model thread, for the batcher."""
        with self._busy():
            return self.run_batch(rankings)

    @contextmanager
    def _busy(self) -> Iterator[None]:
        self.model_busy = True
        try:
            yield
        finally:
            self.model_busy = False

    async def rerank(self, call: RerankCall, request_id: str) -> RerankAnswer:
        if self.state != "ready" or self.batcher is None:
            raise Overloaded(f"the model is {'loading' if self.state == 'loading' else 'not loaded: ' + self.error}", 5)
        self.check(call)
        ranking = self.ranking(call, request_id)
        reranked, timing = await self.batcher.submit(ranking, self.settings.timeout_s)
        return self.answer(call, ranking, reranked, timing)

    def check(self, call: RerankCall) -> None:
        """The size limits (413) and the ids (422: unknown to the index, repeated, or no index at all)."""
        limits, name = self.settings, call.documents_field
        if len(call.documents) > limits.max_documents:
            raise RequestError(413, name, f"{len(call.documents)} documents; this server takes at most {limits.max_documents}")
        if len(call.query) > limits.max_chars:
            raise RequestError(413, "query", f"{len(call.query)} characters; this server takes at most {limits.max_chars}")
        first: dict[str, int] = {}
        for i, doc in enumerate(call.documents):
            where = f"{name}[{i}]"
            if doc.text is not None:
                if len(doc.text) > limits.max_chars:
                    raise RequestError(413, where, f"{len(doc.text)} characters; this server takes at most {limits.max_chars}")
                continue
            if self.index_ids is None:
                raise RequestError(422, where, "documents given by id need a dense index; this server has none (--dense-index)")
            if doc.id not in self.index_ids:
                index = folder_name(str(self.settings.index_path))
                raise RequestError(422, where, f"id {shown(doc.id)} is not in the dense index {index}")
            if doc.id in first:
                raise RequestError(422, where, f"id {shown(doc.id)} repeats {name}[{first[doc.id]}]")
            first[str(doc.id)] = i

    def ranking(self, call: RerankCall, qid: str) -> Ranking:
        """The request as the reranker reads it: candidates in the given order, scored ``-rank``, ids as the module says."""
        seen: dict[str, int] = {}
        candidates = []
        for rank, doc in enumerate(call.documents, 1):
            if doc.id is not None:
                candidates.append(Candidate(doc.id, -float(rank)))
                continue
            key = hashlib.blake2b(str(doc.text).encode("utf-8"), digest_size=16).hexdigest()
            seen[key] = seen.get(key, 0) + 1
            docid = f"text {key}" if seen[key] == 1 else f"text#{seen[key]} {key}"
            candidates.append(Candidate(docid, -float(rank), doc.text))
        return Ranking(Query(qid, call.query), candidates)

    def run_batch(self, rankings: list[Ranking]) -> list[Reranked | BaseException]:
        """One ``rerank_batch`` call; if it fails, each ranking alone, so only the culprit's request fails."""
        assert self.reranker is not None
        try:
            results: list[Reranked | BaseException] = list(self.reranker.rerank_batch(rankings))
        except Exception as exc:
            if len(rankings) == 1:
                return [exc]
            log.warning("a batch of %d requests failed (%s: %s); serving them one by one", len(rankings), type(exc).__name__, exc)
            return [self.run_batch([ranking])[0] for ranking in rankings]
        for result in results:
            if isinstance(result, Reranked):
                result.stats.batch_size = len(rankings)
        return results

    def answer(self, call: RerankCall, ranking: Ranking, reranked: Reranked, timing: Timing) -> RerankAnswer:
        """Scores back in request order; the reranker's order (ties keep the given order), cut to ``top_n``."""
        position = {c.docid: i for i, c in enumerate(ranking.candidates)}
        scores = [math.nan] * len(position)
        for candidate in reranked.candidates:
            scores[position[candidate.docid]] = candidate.score
        if sorted(position[c.docid] for c in reranked.candidates) != list(range(len(position))) \
                or not all(math.isfinite(s) for s in scores):
            raise RuntimeError(f"reranker {self.settings.model_name!r} did not score each document once with a finite score")
        order = [position[c.docid] for c in reranked.candidates][:call.top_n]
        cached = int(reranked.stats.extra.get("cached_vectors", 0))
        self.metrics.observe_documents(cached, len(position) - cached)
        return RerankAnswer(scores, order, reranked.stats, timing.queue_ms, timing.compute_ms, timing.batch_size)
