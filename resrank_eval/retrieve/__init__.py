"""First-stage retrieval: BM25 over Lucene (Pyserini), dense search with the ResRank encoder, and fusion of runs."""

from .fusion import FUSION_METHODS, fuse, fuse_step
from .search import METHODS, retrieve, retrieve_step, system_name

__all__ = ["FUSION_METHODS", "METHODS", "fuse", "fuse_step", "retrieve", "retrieve_step", "system_name"]
