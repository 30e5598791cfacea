"""Turning CLI arguments (dataset name, --corpus, --topics, --qrels, --run, --candidates) into library objects."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from ..datasets.dataset import Dataset
from ..datasets.registry import get_dataset
from ..errors import ResrankError
from ..formats.candidates import read_candidates
from ..formats.corpus import load_passages
from ..formats.topics import read_topics
from ..formats.trec import read_qrels, read_run
from ..jobs import check_made
from ..lucene import lucene_passages, open_searcher
from ..rerank.pipeline import Passages
from ..types import Qrels, Query, Run


def resolve_topics(dataset: str | None, topics: str | None, corpus: str | None = None, split: str = "test") -> dict[str, Query]:
    """Topics from an explicit file, else from the dataset."""
    if topics:
        return read_topics(topics)
    if not dataset:
        raise ResrankError("pass --dataset NAME or --topics FILE")
    return get_dataset(dataset, corpus, split).topics()


def resolve_qrels(dataset: Dataset, qrels: str | None) -> Qrels:
    return read_qrels(qrels) if qrels else dataset.qrels()


def resolve_first_stage(dataset: str, corpus: str | None, topics: str | None, run_path: str | None, candidates: str | None,
                        lucene_index: str | None, split: str = "test") -> tuple[dict[str, Query], Run, Passages, dict[str, Path | str]]:
    """Queries (of the dataset's ``split``), first-stage run and passage texts for ``rerank`` -- from a candidate file,
    a BEIR corpus or a Lucene index -- and where the texts come from, by option name (``candidates``, ``corpus`` or ``index``)."""
    if bool(run_path) == bool(candidates):
        raise ResrankError("pass exactly one of --run RUN or --candidates FILE")
    if candidates:
        data = read_candidates(candidates)
        return read_topics(topics) if topics else data.topics, data.run, data.passages, {"candidates": candidates}
    corpus_is_dir = corpus is not None and Path(corpus).is_dir()
    ds = get_dataset(dataset, corpus if corpus_is_dir else None, split)
    queries, run = resolve_topics(dataset, topics, corpus if corpus_is_dir else None, split), read_run(run_path)
    passages, texts = passage_source(Path(corpus) if corpus else ds.corpus_dir, lucene_index)
    return queries, run, passages, texts


def passage_source(corpus: str | Path | None, lucene_index: str | None = None
                   ) -> tuple[Callable[[Collection[str]], dict[str, str]], dict[str, Path | str]]:
    """Where a rerank reads passage texts -- a BEIR corpus (a folder, or a JSONL such as an imported passage store), else
    a Lucene index with stored raw text -- as a lookup, and that source by option name (``corpus`` or ``index``): what
    the rerank's provenance records, so ``rerank`` and the reproduction grid record it alike."""
    if corpus is not None:
        source = Path(corpus)
        return (lambda docids: load_passages(source, docids)), {"corpus": source}
    if lucene_index:
        index = lucene_index
        check_made(Path(index))  # one `index` made is read as its record lists it (the rerank's record names it so)
        return (lambda docids: lucene_passages(open_searcher(index), docids)), {"index": index}
    raise ResrankError("no passage text: pass --corpus DIR, --index LUCENE_DIR or --candidates FILE")
