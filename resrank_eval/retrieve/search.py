"""The first stage in one call: BM25 over Lucene or dense search with the ResRank encoder -> a run (and to a file)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from ..datasets.dataset import Dataset
from ..errors import ResrankError
from ..formats.corpus import corpus_file
from ..formats.run_shards import RunShard, shard_done, write_run_shard
from ..formats.trec import write_run
from ..parallel import WHOLE, Shard
from ..provenance import Provenance, record_path, write_record
from ..types import Query, Run

METHODS = ("bm25", "dense")


def system_name(method: str, model: str | Path | None = None) -> str:
    """The run's system label: ``bm25-flat`` (Pyserini's name for title + text in one field) or ``dense-<model>``."""
    return "bm25-flat" if method == "bm25" else f"dense-{Path(model or 'encoder').name}"


def retrieve(dataset: Dataset, method: str = "bm25", topics: Mapping[str, Query] | None = None,
             index: str | Path | None = None, model: str | Path | None = None, hits: int = 1000,
             batch_size: int = 64, threads: int = 2, remove_query: bool | None = None,
             device: str | None = None, dtype: str | None = None, shard: Shard = WHOLE) -> Run:
    """Search ``topics`` (default: the dataset's) and return the top ``hits`` per query.

    BM25: ``index`` is a Lucene folder or Pyserini prebuilt name; without it the dataset's corpus is
    indexed (cached by its bytes), else its prebuilt index is used. ``remove_query`` drops a hit
    whose docid is the qid (default: the dataset's rule, on for BEIR). Dense: ``index`` is a folder
    written by ``encode`` and ``model`` the ResRank model or preset whose encoder wrote it; a ``shard``
    (:mod:`..parallel`) searches only the blocks of ``batch_size`` queries it owns.
    """
    queries = dict(topics) if topics is not None else dataset.topics()
    if hits < 1:
        raise ResrankError(f"--hits must be at least 1, got {hits}")
    if method == "bm25":
        if not shard.whole:
            raise ResrankError("sharding applies to dense retrieval; BM25 runs in one process (use --threads)")
        from ..lucene import open_searcher
        from .bm25 import bm25_index, bm25_search

        source = index or (bm25_index(dataset.corpus_dir, threads=threads) if dataset.corpus_dir else dataset.prebuilt_index)
        if source is None:
            raise ResrankError(f"dataset {dataset.name!r} has no local corpus or prebuilt index; pass --corpus DIR or --index")
        drop_self = dataset.remove_query if remove_query is None else remove_query
        return bm25_search(open_searcher(source), queries, hits=hits, threads=threads, batch_size=batch_size, remove_query=drop_self)
    if method == "dense":
        from ..model.check import check_resrank_model
        from .dense import check_dense_index, dense_retrieve

        if not model or not index:
            raise ResrankError("dense retrieval needs --model and --index (built by `resrank-eval encode`)")
        check_resrank_model(model)
        check_dense_index(index, search=True)
        return dense_retrieve(index, model, queries, hits=hits, batch_size=batch_size, threads=threads, device=device, dtype=dtype,
                              shard=shard)
    raise ResrankError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")


def retrieve_provenance(dataset: Dataset, method: str, topics: Mapping[str, Query], index: str | Path | None = None,
                        model: str | Path | None = None, hits: int = 1000, remove_query: bool | None = None,
                        device: str | None = None, dtype: str | None = None, run_tag: str | None = None) -> Provenance:
    """What a first-stage run is made of: method, depth, the self-hit rule in effect, the run tag, the topics by content
    and the index, model or corpus it searched (by content; a prebuilt index or hub model by name)."""
    arguments: dict[str, object] = {"dataset": dataset.name, "split": dataset.split, "method": method, "hits": hits,
                                    "remove_query": dataset.remove_query if remove_query is None else remove_query,
                                    "run_tag": run_tag or system_name(method, model)}
    inputs: dict[str, object] = {"topics": {q.qid: q.text for q in topics.values()}, "index": index}
    if method == "dense":
        arguments.update(device=device, dtype=dtype)
        inputs["model"] = model
    elif index is None and dataset.corpus_dir is not None:
        inputs["corpus"] = corpus_file(dataset.corpus_dir)
    return Provenance.of("retrieve", arguments, inputs)


def retrieve_to_file(output: str | Path, dataset: Dataset, method: str = "bm25", topics: Mapping[str, Query] | None = None,
                     index: str | Path | None = None, model: str | Path | None = None, hits: int = 1000, batch_size: int = 64,
                     threads: int = 2, remove_query: bool | None = None, device: str | None = None, dtype: str | None = None,
                     overwrite: bool = False, shard: Shard = WHOLE, run_tag: str | None = None) -> Run | None:
    """:func:`retrieve` written to ``output`` (run tag: ``run_tag``, else :func:`system_name`) with its provenance beside it;
    returns the run.

    Returns None, doing nothing, when ``output`` exists and was made exactly so; a run made otherwise
    is an error naming the difference, unless ``overwrite``. A ``shard`` writes its share as a run shard
    (with the same provenance) for :func:`~resrank_eval.rerank.sink.merge_run`, and returns it.
    """
    queries = dict(topics) if topics is not None else dataset.topics()
    tag = run_tag or system_name(method, model)
    provenance = retrieve_provenance(dataset, method, queries, index, model, hits, remove_query, device, dtype, tag)
    record = record_path(output)
    if provenance.skip([Path(output)], record, overwrite):
        return None
    if not shard.whole:
        return _retrieve_shard(output, shard, provenance, tag, dataset, method, queries, index, model, hits, batch_size, threads,
                               remove_query, device, dtype, overwrite)
    run = retrieve(dataset, method, queries, index, model, hits, batch_size, threads, remove_query, device, dtype)
    if not any(run.values()):
        raise ResrankError(f"{output}: not written, no query found a single hit (do the topics match the corpus?)")
    write_run(output, run, tag)
    write_record(record, provenance)
    return run


def _retrieve_shard(output: str | Path, shard: Shard, provenance: Provenance, tag: str, dataset: Dataset, method: str,
                    queries: dict[str, Query], index: str | Path | None, model: str | Path | None, hits: int, batch_size: int,
                    threads: int, remove_query: bool | None, device: str | None, dtype: str | None, overwrite: bool) -> Run | None:
    """One shard's share of the run as a run shard; None when that shard is written already with this provenance."""
    if shard_done(output, shard, provenance, overwrite):
        return None
    started = time.perf_counter()
    run = retrieve(dataset, method, queries, index, model, hits, batch_size, threads, remove_query, device, dtype, shard)
    write_run_shard(output, RunShard.of(shard, tag, run, queries, seconds=time.perf_counter() - started, provenance=provenance))
    return run
