"""BM25 first stage through Pyserini, built the way Pyserini's BEIR "flat" indexes are.

Title and text go into one ``contents`` field, the one searched; search uses BM25 with k1=0.9, b=0.4. The stored
raw document also keeps ``title`` and ``text`` apart, as Pyserini's own BEIR indexes store the BEIR document, so a
passage read back from the index is the corpus's, title included (:func:`~resrank_eval.lucene.lucene_passages`).
Building an index is a step of the job layer (:mod:`..jobs`): the folder's record names the corpus bytes and the index
layout, so an edited corpus gets a fresh index instead of silently reusing a stale one; cached indexes
are named by the digest of that record.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ResrankError, check_count
from ..formats.atomic import build_lock, temp_folder
from ..formats.corpus import Document, corpus_file, iter_corpus
from ..formats.trec import LEADERBOARD_HITS, pyserini_order
from ..jobs import Outputs, Step
from ..jvm import pyserini_module
from ..logs import progress
from ..paths import cache_dir
from ..provenance import Provenance
from ..types import Candidate, Query, Run

log = logging.getLogger(__name__)

K1, B = 0.9, 0.4
INDEX_FORMAT = {"fields": "title + ' ' + text", "raw": "id, contents, title, text",
                "indexer": "LuceneIndexer -storePositions -storeDocvectors -storeRaw"}
"""What, besides the corpus bytes, decides an index's content."""
MAX_CLAUSES = 1 << 16
"""Lucene's limit on the terms of one query (1,024 by default): a long BEIR query must be searched, not lose the run."""
_INDEX_BATCH = 1000


def index_step(corpus: str | Path, index_dir: str | Path | None = None, threads: int = 2) -> Step[Path]:
    """A Lucene index of ``corpus`` in ``index_dir`` (default: the cache, under the digest of what makes it)."""
    provenance = Provenance.of("index", INDEX_FORMAT, {"corpus": corpus_file(corpus)})
    target = Path(index_dir) if index_dir else cache_dir() / "indexes" / f"lucene-{provenance.digest()}"

    def make() -> Path:
        log.info("indexing %s into %s", corpus_file(corpus), target)
        with build_lock(target):  # the step's lock already: this only removes what killed builds left
            building = temp_folder(target)
            try:
                build_lucene_index(iter_corpus(corpus), building, threads)
                shutil.rmtree(target, ignore_errors=True)  # this step's own earlier output, being made again
                building.rename(target)
            finally:
                shutil.rmtree(building, ignore_errors=True)
        return target

    return Step(provenance, Outputs.folder(target), make)


def bm25_index(corpus: str | Path, index_dir: str | Path | None = None, threads: int = 2) -> Path:
    """:func:`index_step`, run: the index folder, built unless it is there (made so, and unchanged)."""
    step = index_step(corpus, index_dir, threads)
    step.run()
    return step.outputs.files[0]


def build_lucene_index(documents: Iterable[Document], out_dir: Path, threads: int) -> int:
    """Index documents in-process with Anserini's indexer (positions, doc vectors and raw stored).

    Only ``contents`` is indexed: Anserini's JSON documents index another field only when ``-fields`` names it, so
    ``title`` and ``text`` are kept in the raw document alone and BM25 is unchanged by them.
    """
    indexer_cls = pyserini_module("pyserini.index.lucene").LuceneIndexer
    args = ["-index", str(out_dir), "-storePositions", "-storeDocvectors", "-storeRaw"]
    indexer = indexer_cls(args=args, threads=threads)
    count = 0
    batch: list[str] = []
    for doc in progress(documents, desc="indexing", unit="doc"):
        batch.append(json.dumps({"id": doc.docid, "contents": doc.contents, "title": doc.title, "text": doc.text}))
        if len(batch) == _INDEX_BATCH:
            indexer.add_batch_raw(batch)
            count += len(batch)
            batch = []
    if batch:
        indexer.add_batch_raw(batch)
        count += len(batch)
    indexer.close()
    if count == 0:
        raise ResrankError("corpus has no documents")
    return count


def bm25_search(
    searcher: Any,
    topics: dict[str, Query],
    hits: int = LEADERBOARD_HITS,
    threads: int = 2,
    batch_size: int = 64,
    remove_query: bool = False,
    k1: float = K1,
    b: float = B,
) -> Run:
    """Search every topic; with ``remove_query`` drop a hit whose docid equals the qid (BEIR).

    Each query's hits come in :func:`~resrank_eval.formats.trec.pyserini_order`, so tied scores
    evaluate exactly as Pyserini's own run of the same index does.
    """
    if not topics:
        raise ResrankError("no topics to search")
    pyserini_module("pyserini.search.lucene")  # the JVM, before the clause limit is raised in it
    from jnius import autoclass

    autoclass("org.apache.lucene.search.IndexSearcher").setMaxClauseCount(MAX_CLAUSES)
    for value, name in ((hits, "hits"), (batch_size, "batch_size"), (threads, "threads")):
        check_count(value, name)
    searcher.set_bm25(k1, b)
    depth = min(hits + 1 if remove_query else hits, searcher.num_docs)  # a huge --hits (+1) overflowed Java's int
    queries = list(topics.values())
    run: Run = {}
    with progress(total=len(queries), desc="bm25", unit="query") as bar:
        for start in range(0, len(queries), batch_size):
            chunk = queries[start : start + batch_size]
            if threads > 1:
                found = searcher.batch_search([q.text for q in chunk], [q.qid for q in chunk], k=depth, threads=threads)
            else:
                found = {q.qid: searcher.search(q.text, k=depth) for q in chunk}
            for query in chunk:
                kept = [h for h in found.get(query.qid, []) if not (remove_query and h.docid == query.qid)]
                run[query.qid] = pyserini_order(Candidate(h.docid, float(h.score)) for h in kept[:hits])
            bar.update(len(chunk))
    return run
