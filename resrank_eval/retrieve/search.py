"""The first stage in one call: BM25 over Lucene or dense search with the ResRank encoder -> a run (and, as a step, a file)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from ..datasets.dataset import Dataset
from ..errors import ArgumentError, ResrankError, check_count
from ..formats.corpus import corpus_file
from ..formats.results_log import ResultsLog
from ..formats.trec import LEADERBOARD_HITS, write_run
from ..jobs import Merge, Outputs, ShardedStep, Step, check_made, logged_run, rank_queries, units
from ..provenance import Provenance
from ..types import Candidate, Query, Run

METHODS = ("bm25", "dense")


def system_name(method: str, model: str | Path | None = None) -> str:
    """The run's system label: ``bm25-flat`` (Pyserini's name for title + text in one field) or ``dense-<model>``."""
    return "bm25-flat" if method == "bm25" else f"dense-{Path(model or 'encoder').name}"


def retrieve(dataset: Dataset, method: str = "bm25", topics: Mapping[str, Query] | None = None,
             index: str | Path | None = None, model: str | Path | None = None, hits: int = LEADERBOARD_HITS,
             batch_size: int = 64, threads: int = 2, remove_query: bool | None = None,
             device: str | None = None, dtype: str | None = None) -> Run:
    """Search ``topics`` (default: the dataset's) and return the top ``hits`` per query; ``remove_query`` drops a hit
    whose docid is the qid (default: the dataset's rule, on for BEIR, as Pyserini's BEIR runs do for both methods).

    BM25: ``index`` is a Lucene folder or Pyserini prebuilt name; without it the dataset's corpus is
    indexed (cached by its bytes), else its prebuilt index is used. Dense: ``index`` is a folder
    written by ``encode`` and ``model`` the ResRank model or preset whose encoder wrote it.
    """
    queries = dict(topics) if topics is not None else dataset.topics()
    _check(dataset, method, index, model, hits, batch_size, threads, device, dtype)
    drop_self = dataset.remove_query if remove_query is None else remove_query
    if method == "bm25":
        from ..lucene import open_searcher
        from .bm25 import bm25_index, bm25_search

        source = index or (bm25_index(dataset.corpus_dir, threads=threads) if dataset.corpus_dir else dataset.prebuilt_index)
        return bm25_search(open_searcher(source), queries, hits=hits, threads=threads, batch_size=batch_size, remove_query=drop_self)
    from .dense import iter_dense_retrieve

    return dict(iter_dense_retrieve(index, model, queries, hits, batch_size, threads, device, dtype,  # type: ignore[arg-type]
                                    remove_query=drop_self))


def retrieve_step(output: str | Path, dataset: Dataset, method: str = "bm25", topics: Mapping[str, Query] | None = None,
                  index: str | Path | None = None, model: str | Path | None = None, hits: int = LEADERBOARD_HITS,
                  batch_size: int = 64, threads: int = 2, remove_query: bool | None = None, device: str | None = None,
                  dtype: str | None = None, run_tag: str | None = None, sources: Mapping[str, str | Path | None] | None = None
                  ) -> Step[Run] | ShardedStep[Run]:
    """:func:`retrieve` written to ``output`` (run tag: ``run_tag``, else :func:`system_name`); ``sources`` names the file
    ``topics`` were read from (``{"topics": path}``: recorded, and ``output`` may not be it).

    Its provenance: method, depth, the self-hit rule in effect, the run tag, the topics by content and the index, model
    or corpus it searched (by content; a prebuilt index or hub model by name); dense retrieval also its ``threads``
    (FAISS's and torch's, which encodes the queries). Dense retrieval is a sharded step whose units are the queries,
    searched in blocks of ``batch_size`` (resumable; shards merge into the one-process run).
    """
    queries = dict(topics) if topics is not None else dataset.topics()
    _check(dataset, method, index, model, hits, batch_size, threads, device, dtype)
    tag = run_tag or system_name(method, model)
    arguments: dict[str, Any] = {"dataset": dataset.name, "split": dataset.split, "method": method, "hits": hits,
                                 "remove_query": dataset.remove_query if remove_query is None else remove_query, "run_tag": tag}
    inputs: dict[str, Any] = {"topics": {q.qid: q.text for q in queries.values()}, "index": index}
    if method == "dense":
        arguments.update(device=device, dtype=dtype, threads=threads)
        inputs["model"] = model
    elif index is None and dataset.corpus_dir is not None:
        inputs["corpus"] = corpus_file(dataset.corpus_dir)
    provenance = Provenance.of("retrieve", arguments, inputs, sources)
    if method == "dense":
        def search(qids: list[str]) -> Iterator[tuple[str, list[Candidate], dict[str, Any]]]:
            from .dense import iter_dense_retrieve

            for qid, found in iter_dense_retrieve(index, model, queries, hits, batch_size, threads, device, dtype, qids=qids,
                                                  remove_query=arguments["remove_query"]):
                yield qid, found, {}

        work = partial(rank_queries, qids=list(queries), batch_size=batch_size, rank=search)
        return ShardedStep(provenance, work, run_merge(output))

    def make() -> Run:
        return _write(Path(output), retrieve(dataset, method, queries, index, model, hits, batch_size, threads, remove_query,
                                             device, dtype), tag)

    return Step(provenance, Outputs.beside(output), make)


def run_merge(output: str | Path) -> Merge[Run]:
    """How the logs the shards of a dense retrieval (``--shard-id/--shard-num``) completed become the run one process
    writes (:class:`~resrank_eval.jobs.Merge`: what lies there is kept or refused as a step keeps or refuses it)."""
    return Merge(Path(output), Outputs.beside(output), partial(_publish, Path(output)))


def _check(dataset: Dataset, method: str, index: str | Path | None, model: str | Path | None, hits: int, batch_size: int,
           threads: int, device: str | None = None, dtype: str | None = None) -> None:
    """What a retrieval needs, checked before anything loads; options that mean nothing to the method are refused."""
    for value, name in ((hits, "hits"), (batch_size, "batch_size"), (threads, "threads")):
        check_count(value, name)
    if method == "bm25":
        unused = next((name for name, value in (("model", model), ("device", device), ("dtype", dtype)) if value), None)
        if unused:
            raise ArgumentError(f"`{unused}` does not apply to BM25 (it is for `method` dense)")
        if index is None and dataset.corpus_dir is None and dataset.prebuilt_index is None:
            raise ArgumentError(f"dataset {dataset.name!r} has no local corpus or prebuilt index; pass `corpus` (a BEIR folder) or `index`")
        if index is not None and Path(index).is_dir():
            check_made(Path(index))  # one `index` made is read as its record lists it (the run's record names it so)
    elif method == "dense":
        from ..model.check import check_resrank_model
        from .dense import check_dense_index

        if not model or not index:
            raise ArgumentError("dense retrieval needs `model` and `index` (built by `resrank-eval encode`)")
        check_resrank_model(model)
        check_dense_index(index, search=True)
    else:
        raise ResrankError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")


def _publish(output: Path, logs: list[ResultsLog]) -> Run:
    """The run from every shard's log, in topic order, tagged as the logs' provenance says."""
    return _write(output, logged_run(units(logs)), logs[0].header["provenance"]["arguments"]["run_tag"])


def _write(output: Path, run: Run, tag: str) -> Run:
    """``run`` as a TREC file; one where no query found a hit is an error, and not written."""
    if not any(run.values()):
        raise ResrankError(f"{output}: not written, no query found a single hit (do the topics match the corpus?)")
    write_run(output, run, tag)
    return run
