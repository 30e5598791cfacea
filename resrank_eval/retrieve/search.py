"""The first stage in one call: BM25 over Lucene or dense search with the ResRank encoder -> a run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..datasets.registry import Dataset
from ..errors import ResrankError
from ..types import Query, Run

METHODS = ("bm25", "dense")


def system_name(method: str, model: str | Path | None = None) -> str:
    """The run's system label: ``bm25-flat`` (Pyserini's name for title + text in one field) or ``dense-<model>``."""
    return "bm25-flat" if method == "bm25" else f"dense-{Path(model or 'encoder').name}"


def retrieve(dataset: Dataset, method: str = "bm25", topics: Mapping[str, Query] | None = None,
             index: str | Path | None = None, model: str | Path | None = None, hits: int = 1000,
             batch_size: int = 64, threads: int = 2, remove_query: bool | None = None,
             device: str | None = None, dtype: str | None = None) -> Run:
    """Search ``topics`` (default: the dataset's) and return the top ``hits`` per query.

    BM25: ``index`` is a Lucene folder or Pyserini prebuilt name; without it the dataset's corpus is
    indexed (cached by its bytes), else its prebuilt index is used. ``remove_query`` drops a hit
    whose docid is the qid (default: the dataset's rule, on for BEIR). Dense: ``index`` is a folder
    written by ``encode`` and ``model`` the ResRank model or preset whose encoder wrote it.
    """
    queries = dict(topics) if topics is not None else dataset.topics()
    if method == "bm25":
        from .bm25 import bm25_index, bm25_search, open_searcher

        source = index or (bm25_index(dataset.corpus_dir, threads=threads) if dataset.corpus_dir else dataset.prebuilt_index)
        if source is None:
            raise ResrankError(f"dataset {dataset.name!r} has no local corpus or prebuilt index; pass --corpus DIR or --index")
        drop_self = dataset.remove_query if remove_query is None else remove_query
        return bm25_search(open_searcher(source), queries, hits=hits, threads=threads, batch_size=batch_size, remove_query=drop_self)
    if method == "dense":
        from .dense import dense_retrieve

        if not model or not index:
            raise ResrankError("dense retrieval needs --model and --index (built by `resrank-eval encode`)")
        return dense_retrieve(index, model, queries, hits=hits, batch_size=batch_size, threads=threads, device=device, dtype=dtype)
    raise ResrankError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
