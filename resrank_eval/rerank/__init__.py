"""Rerankers (one registered class each), the in-memory pipeline that runs any of them, and the file sink."""

from .base import Option, Reranked, Reranker
from .pipeline import EfficiencySummary, Passages, RerankResult, iter_rerank, rerank, rerank_run, summarize, to_rankings
from .registry import load_reranker, rerankers
from .sink import RerankOutputs, RunSink, rerank_to_files

__all__ = [
    "EfficiencySummary",
    "Option",
    "Passages",
    "RerankOutputs",
    "RerankResult",
    "Reranked",
    "Reranker",
    "RunSink",
    "iter_rerank",
    "load_reranker",
    "rerank",
    "rerank_run",
    "rerank_to_files",
    "rerankers",
    "summarize",
    "to_rankings",
]
