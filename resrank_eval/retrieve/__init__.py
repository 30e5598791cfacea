"""First-stage retrieval: BM25 over Lucene (Pyserini), dense search with the ResRank encoder, and fusion of runs."""

from .fusion import FUSION_METHODS, fuse
from .search import METHODS, retrieve, system_name

__all__ = ["FUSION_METHODS", "METHODS", "fuse", "retrieve", "system_name"]
