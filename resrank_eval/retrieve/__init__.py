"""First-stage retrieval: BM25 over Lucene (Pyserini), dense search with the ResRank encoder, and fusion of runs."""

from .fusion import FUSION_METHODS, fuse, fuse_to_file
from .search import METHODS, retrieve, retrieve_provenance, retrieve_to_file, system_name

__all__ = ["FUSION_METHODS", "METHODS", "fuse", "fuse_to_file", "retrieve", "retrieve_provenance", "retrieve_to_file", "system_name"]
