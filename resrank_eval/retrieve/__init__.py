"""First-stage retrieval: BM25 over Lucene (Pyserini) and dense search with the ResRank encoder."""

from .search import METHODS, retrieve, retrieve_provenance, retrieve_to_file, system_name

__all__ = ["METHODS", "retrieve", "retrieve_provenance", "retrieve_to_file", "system_name"]
