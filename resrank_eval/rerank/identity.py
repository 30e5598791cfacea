"""The identity reranker: keeps the first-stage order. A control run and a plumbing check."""

from __future__ import annotations

import time

from ..types import Candidate, QueryStats, Ranking
from .base import Reranked, Reranker


class IdentityReranker(Reranker):
    name = "identity"

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        results = []
        for ranking in rankings:
            start = time.perf_counter()
            kept = [Candidate(c.docid, c.score) for c in ranking.candidates]
            elapsed = (time.perf_counter() - start) * 1000
            stats = QueryStats(ranking.query.qid, self.name, len(kept), rerank_ms=elapsed, total_ms=elapsed)
            results.append(Reranked(kept, stats))
        return results
