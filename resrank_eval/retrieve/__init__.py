"""First-stage retrieval: BM25 over Lucene (Pyserini) and dense search with the ResRank encoder."""

from .search import METHODS, retrieve, system_name

__all__ = ["METHODS", "retrieve", "system_name"]
