"""resrank-eval: run, train and benchmark ResRank rerankers on Pyserini first-stage runs."""

__version__ = "0.1.0"
