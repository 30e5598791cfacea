"""Reranking in memory: first-stage run -> rankings -> any reranker -> reranked run + per-query cost.

No files: writing, skipping and resuming are :mod:`.sink`'s job, which wraps these same calls.
The reranked run keeps each query's reranked top-k (strictly decreasing scores) followed by the
rest of the first-stage list in its original order, so R@1000 stays comparable with the first stage.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ResrankError, check_count
from ..formats.ids import check_score
from ..formats.topics import check_run_topics
from ..logs import progress
from ..model.flops import flops_summary
from ..numeric import strictly_decreasing
from ..types import Candidate, EfficiencySummary, Query, QueryStats, Ranking, Run
from .base import Reranked, Reranker

TOP_K = 100
"""How many of each query's first-stage hits a reranker reorders unless told otherwise (the rest follow in first-stage order)."""

Passages = Mapping[str, str] | Callable[[Collection[str]], dict[str, str]]
"""Passage texts in memory, or a function that fetches the ones asked for (docids -> their texts; e.g.
``lambda ids: load_passages(corpus_dir, ids)``)."""


def to_rankings(topics: Mapping[str, Query], run: Run, passages: Passages | None = None, top_k: int | None = None,
                qids: Iterable[str] | None = None) -> list[Ranking]:
    """The rankings a reranker reads: each query's top-k with passage texts (none when ``passages`` is None).

    ``qids`` picks a subset in that order (default: every query of ``run`` with hits, in run order).
    """
    check_count(top_k, "top_k", none_ok=True)
    chosen = [q for q in (run if qids is None else qids) if run.get(q)]
    check_run_topics(chosen, topics, "`dataset`/`split`/`topics`")
    heads = {q: run[q][:top_k] for q in chosen}
    texts: Mapping[str, str] = {}
    if passages is not None:
        wanted = {c.docid for head in heads.values() for c in head}
        texts = passage_texts(passages, wanted)
        absent = sorted(wanted - texts.keys())
        if absent:
            raise ResrankError(f"{len(absent)} candidates have no passage text (e.g. {absent[0]!r})")
    return [Ranking(topics[q], [Candidate(c.docid, c.score, texts.get(c.docid)) for c in heads[q]]) for q in chosen]


def passage_texts(passages: Passages, docids: Collection[str]) -> Mapping[str, str]:
    """The texts of ``docids`` (a mapping in memory is returned whole: looking them up is the caller's)."""
    return passages if isinstance(passages, Mapping) else passages(docids)


def iter_rerank(reranker: Reranker, rankings: Sequence[Ranking], batch_size: int = 1,
                checked: bool = False) -> Iterator[tuple[Ranking, Reranked]]:
    """Rerank ``batch_size`` queries per reranker call, yielding each query as its batch finishes, once the reranker has
    checked that what it holds fits the rankings' passages (:meth:`~.base.Reranker.check_rankings`; ``checked``: a step
    checked them before the model loaded).

    The one owner of batching: rerankers see exactly one batch per call. Each result must name its ranking's
    query (results come in batch order) and reorder (never add or drop) its candidates with scores a run holds
    (:func:`~resrank_eval.formats.ids.check_score`: finite, within a 32-bit float's range); its stats get the batch's
    actual size.
    """
    check_count(batch_size, "batch_size")
    if not checked:
        reranker.check_rankings(rankings)
    with progress(total=len(rankings), desc=f"rerank ({reranker.name})", unit="query") as bar:
        for start in range(0, len(rankings), batch_size):
            batch = list(rankings[start:start + batch_size])
            results = reranker.rerank_batch(batch)
            if len(results) != len(batch):
                raise ResrankError(f"reranker {reranker.name!r} returned {len(results)} results for {len(batch)} queries")
            for ranking, result in zip(batch, results):
                if result.stats.qid != ranking.query.qid:
                    raise ResrankError(f"reranker {reranker.name!r} returned query {result.stats.qid!r} where {ranking.query.qid!r} was due")
                if sorted(c.docid for c in result.candidates) != sorted(ranking.docids):
                    raise ResrankError(f"reranker {reranker.name!r} changed the candidate set of query {ranking.query.qid!r}")
                for candidate in result.candidates:
                    try:
                        check_score(candidate.score)
                    except ValueError as exc:
                        raise ResrankError(f"reranker {reranker.name!r} scored docid {candidate.docid!r} "
                                           f"of query {ranking.query.qid!r}: {exc}") from None
                result.stats.batch_size = len(batch)
                yield ranking, result
            bar.update(len(batch))


def rerank(reranker: Reranker, rankings: Sequence[Ranking], batch_size: int = 1) -> list[Reranked]:
    """:func:`iter_rerank`, collected: one result per ranking, in order."""
    return [result for _, result in iter_rerank(reranker, rankings, batch_size)]


def with_tail(result: Reranked, first_stage: list[Candidate], top_k: int) -> list[Candidate]:
    """The reranked top-k with strictly decreasing scores, then the first stage's rest, scored below them: the scores the
    run is written with (:func:`~resrank_eval.numeric.strictly_decreasing` nudges none later). ``ResrankError`` when no
    32-bit float (as trec_eval holds scores) lies below the reranker's lowest score to rank the hits after it: refused as the
    query is reranked, not when the run is written after every query was."""
    reranked, tail = result.candidates, first_stage[top_k:]
    try:
        head = strictly_decreasing([c.score for c in reranked])
        floor = head[-1] if head else 0.0
        scores = strictly_decreasing(head + [floor - 1.0 - j for j in range(len(tail))])
    except ValueError:
        lowest = min(reranked, key=lambda c: c.score)
        raise ResrankError(f"reranker {result.stats.reranker!r} scored docid {lowest.docid!r} of query {result.stats.qid!r} "
                           f"{lowest.score:g}: no 32-bit float (as trec_eval holds scores) lies below it "
                           "to rank the hits after it") from None
    return [Candidate(c.docid, score) for c, score in zip(reranked + tail, scores)]


@dataclass
class RerankResult:
    """A reranked run (reranked queries only, in first-stage order) and each query's cost."""

    run: Run
    stats: list[QueryStats]

    def summary(self) -> EfficiencySummary:
        return summarize(self.stats)


def rerank_run(reranker: Reranker, topics: Mapping[str, Query], run: Run, passages: Passages | None = None,
               top_k: int = TOP_K, batch_size: int = 1) -> RerankResult:
    """Rerank the top ``top_k`` of every query in ``run``, in memory."""
    check_count(top_k, "top_k")  # None would rerank all, then append all again
    result = RerankResult({}, [])
    rankings = to_rankings(topics, run, passages, top_k)
    for _, reranked in iter_rerank(reranker, rankings, batch_size):  # in run order, each naming its query
        result.run[reranked.stats.qid] = with_tail(reranked, run[reranked.stats.qid], top_k)
        result.stats.append(reranked.stats)
    return result


def summarize(stats: Sequence[QueryStats]) -> EfficiencySummary:
    """The efficiency summary of at least one query's stats; percentiles interpolate linearly, as numpy's default."""
    if not stats:
        raise ResrankError("no reranked queries to summarize")
    total, rerank_ms = [s.total_ms for s in stats], [s.rerank_ms for s in stats]
    (p50, p95), (rerank_p50, rerank_p95) = np.percentile(total, [50, 95]).tolist(), np.percentile(rerank_ms, [50, 95]).tolist()
    return EfficiencySummary(
        reranker=stats[0].reranker, queries=len(stats), device=stats[0].device, dtype=stats[0].dtype,
        batch_size=max(s.batch_size for s in stats), latency_ms_p50=p50, latency_ms_p95=p95, latency_ms_mean=statistics.fmean(total),
        encode_ms_mean=statistics.fmean(s.encode_ms for s in stats), rerank_ms_mean=statistics.fmean(rerank_ms),
        rerank_ms_p50=rerank_p50, rerank_ms_p95=rerank_p95, queries_per_s=1000.0 * len(stats) / sum(total) if sum(total) > 0 else None,
        **{f"{count}_per_query": statistics.fmean(getattr(s, count) for s in stats)
           for count in ("candidates", "encoder_tokens", "reranker_input_tokens", "generated_tokens", "forward_passes")},
        **flops_summary([s.flops for s in stats]),
        protocol=stats[0].extra.get("protocol"),
    )
