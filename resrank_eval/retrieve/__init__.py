"""First-stage retrieval: BM25 over Lucene (Pyserini) and dense search with the ResRank encoder."""
