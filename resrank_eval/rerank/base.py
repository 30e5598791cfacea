"""The reranker interface: a new reranker is one subclass of :class:`Reranker`.

A reranker receives batches of rankings whose candidates carry their passage text, and returns
for each the new order with scores plus a :class:`~resrank_eval.types.QueryStats` of its cost.
The driver (``rerank.driver``) owns top-k cutting, text lookup, resuming and file output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..types import Candidate, QueryStats, Ranking


@dataclass
class Reranked:
    """One query's reranked top-k (best first, scores decreasing) and what it cost."""

    candidates: list[Candidate]
    stats: QueryStats


class Reranker(ABC):
    """Reorders each query's candidates; ``name`` becomes the run tag and the stats' reranker field."""

    name: str = "reranker"

    @abstractmethod
    def rerank(self, rankings: list[Ranking]) -> list[Reranked]:
        """Rerank a batch of queries (candidates carry ``text``); one result per ranking, same order."""
