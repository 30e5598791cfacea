"""Rerankers (one registered class each), the in-memory pipeline that runs any of them, and the file sink."""

from .base import Option, Reranked, Reranker
from .pipeline import Passages, RerankResult, iter_rerank, rerank, rerank_run, summarize, to_rankings
from .registry import RerankerFactory, load_reranker, reranker_factory, rerankers
from .sink import RerankOutputs, rerank_step

__all__ = [
    "Option",
    "Passages",
    "RerankOutputs",
    "RerankResult",
    "Reranked",
    "Reranker",
    "RerankerFactory",
    "iter_rerank",
    "load_reranker",
    "rerank",
    "rerank_run",
    "rerank_step",
    "reranker_factory",
    "rerankers",
    "summarize",
    "to_rankings",
]
