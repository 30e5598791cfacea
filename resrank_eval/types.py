"""The one data model that flows through datasets -> retrieve -> rerank -> evaluate -> report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Query:
    """A topic: its id and the text a model reads."""

    qid: str
    text: str


class Passage(str):
    """A passage's text as rerankers read it -- title, a space, body (Pyserini's "contents") -- keeping its title apart.

    Every reranker but the generative ones sees the plain string; the RankGPT-style prompt protocols show
    ``Title: ... Content: ...`` as their reference code does, which needs ``title`` and ``body``.
    """

    title: str
    body: str

    def __new__(cls, title: str, body: str) -> Passage:
        passage = super().__new__(cls, f"{title} {body}".strip() if title else body)
        passage.title, passage.body = title, body
        return passage

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # pickling rebuilds from both parts
        return self.title, self.body


@dataclass
class Candidate:
    """One ranked document: first-stage or reranked score, and its text when a reranker needs it."""

    docid: str
    score: float
    text: str | None = None


@dataclass
class Ranking:
    """A query with its candidates in rank order (best first)."""

    query: Query
    candidates: list[Candidate]

    @property
    def docids(self) -> list[str]:
        return [c.docid for c in self.candidates]


Run = dict[str, list[Candidate]]
"""A TREC run in memory: qid -> candidates in rank order."""

Qrels = dict[str, dict[str, int]]
"""Relevance judgments: qid -> docid -> graded label."""


@dataclass
class QueryStats:
    """Cost of reranking one query. The same shape serves ResRank and generative baselines.

    Latencies are wall-clock milliseconds; ``encode_ms`` is 0 when all passage vectors came from
    a cache, which is what ResRank's single-pass design promises for indexed corpora. ``batch_size``
    is how many queries shared the reranker call that reranked this one (the last batch of a run
    may be smaller than the requested size); :func:`~resrank_eval.rerank.rerank` sets it.
    ``flops`` is the hardware-independent cost (:mod:`resrank_eval.model.flops`): ``encoder``,
    ``prefill`` (reranker input, projector included) and ``decode`` (generated tokens); empty when
    the model's shape is unknown (a remote server) or there is no model (identity).
    """

    qid: str
    reranker: str
    candidates: int
    encoder_tokens: int = 0
    reranker_input_tokens: int = 0
    generated_tokens: int = 0
    forward_passes: int = 0
    encode_ms: float = 0.0
    rerank_ms: float = 0.0
    total_ms: float = 0.0
    device: str = "cpu"
    dtype: str = "float32"
    batch_size: int = 1
    flops: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryStats:
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class EfficiencySummary:
    """What a rerank cost per query, as ``<run>.summary.json`` holds it (these fields in this order).

    None: ``queries_per_s`` when the queries took no measurable time; the reranker-only percentiles and FLOPs in
    summaries older than them, the FLOPs also when a query lacks a count. ``protocol``: a generative reranker's prompt
    protocol, its version and answer budget (none for ResRank). ``environment``: where the timings come from.
    """

    reranker: str
    queries: int
    device: str
    dtype: str
    batch_size: int
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_mean: float
    encode_ms_mean: float
    rerank_ms_mean: float
    rerank_ms_p50: float | None = None
    rerank_ms_p95: float | None = None
    queries_per_s: float | None
    candidates_per_query: float
    encoder_tokens_per_query: float
    reranker_input_tokens_per_query: float
    generated_tokens_per_query: float
    forward_passes_per_query: float
    flops_per_query: float | None = None
    queries_per_pflop: float | None = None
    encoder_flops_per_query: float | None = None
    prefill_flops_per_query: float | None = None
    decode_flops_per_query: float | None = None
    protocol: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary file's fields (``protocol`` and ``environment`` only when known)."""
        return {k: v for k, v in asdict(self).items() if k not in ("protocol", "environment") or v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EfficiencySummary:
        """A summary file's fields; keys it does not know (the provenance, a sharded run's ranks) are left out."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
