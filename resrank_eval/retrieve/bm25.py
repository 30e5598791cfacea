"""BM25 first stage through Pyserini, built the way Pyserini's BEIR "flat" indexes are.

Title and text go into one ``contents`` field; search uses BM25 with k1=0.9, b=0.4. Indexes are
cached under a fingerprint of the corpus bytes, so an edited corpus gets a fresh index instead of
silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..datasets.corpus import Document, corpus_file, iter_corpus
from ..errors import ResrankError
from ..formats.atomic import build_lock, temp_folder
from ..formats.jsonl import read_json
from ..formats.trec import pyserini_order
from ..jvm import pyserini_module
from ..logs import progress
from ..paths import cache_dir
from ..types import Candidate, Passage, Query, Run

log = logging.getLogger(__name__)

K1, B = 0.9, 0.4
META_FILE = "resrank-index.json"
INDEX_FORMAT = {"fields": "title + ' ' + text", "indexer": "LuceneIndexer -storePositions -storeDocvectors -storeRaw"}
"""What, besides the corpus bytes, decides an index's content: a cached index recorded otherwise is stale."""
_INDEX_BATCH = 1000


def corpus_fingerprint(corpus: str | Path) -> str:
    """SHA-256 of the corpus file's bytes (the cache key of its index)."""
    digest = hashlib.sha256()
    with open(corpus_file(corpus), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bm25_index(corpus: str | Path, index_dir: str | Path | None = None, threads: int = 2, overwrite: bool = False) -> Path:
    """Return a Lucene index of ``corpus``, building it (atomically, one builder at a time) unless a current one exists.

    Current means: built from these corpus bytes, with these fields and this index layout
    (:data:`INDEX_FORMAT`); a cached index that is not is rebuilt, never reused, and a folder the
    user named is refused instead. A build that was killed is cleaned up by the next one.
    """
    fingerprint = corpus_fingerprint(corpus)  # hashed once: cache key, staleness check and metadata
    target = Path(index_dir) if index_dir else cache_dir() / "indexes" / f"lucene-{fingerprint[:16]}"
    meta = {"sha256": fingerprint, **INDEX_FORMAT}
    with build_lock(target):
        if not overwrite and _current(target, meta, named=index_dir is not None):
            return target
        log.info("indexing %s into %s", corpus_file(corpus), target)
        building = temp_folder(target)
        try:
            count = build_lucene_index(iter_corpus(corpus), building, threads)
            record = {"corpus": str(corpus_file(corpus)), **meta, "documents": count}
            (building / META_FILE).write_text(json.dumps(record, indent=2))
            if target.exists():
                shutil.rmtree(target)
            building.rename(target)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return target


def _current(target: Path, meta: dict[str, str], named: bool) -> bool:
    """Whether ``target`` is a finished index of this corpus and format; a named folder of another one is an error."""
    if not (target / META_FILE).is_file():
        if named and target.exists() and any(target.iterdir()):
            raise ResrankError(f"{target}: exists but is not an index resrank-eval built; pass --overwrite to replace it")
        return False
    recorded = read_json(target / META_FILE)
    if isinstance(recorded, dict) and all(recorded.get(key) == value for key, value in meta.items()):
        return True
    if named:
        raise ResrankError(f"{target}: index was built from a different corpus or format; pass --overwrite to rebuild")
    return False


def build_lucene_index(documents: Iterable[Document], out_dir: Path, threads: int) -> int:
    """Index documents in-process with Anserini's indexer (positions, doc vectors and raw stored)."""
    indexer_cls = pyserini_module("pyserini.index.lucene").LuceneIndexer
    args = ["-index", str(out_dir), "-storePositions", "-storeDocvectors", "-storeRaw"]
    indexer = indexer_cls(args=args, threads=threads)
    count = 0
    batch: list[dict[str, str]] = []
    for doc in progress(documents, desc="indexing", unit="doc"):
        batch.append({"id": doc.docid, "contents": doc.contents})
        if len(batch) == _INDEX_BATCH:
            indexer.add_batch_dict(batch)
            count += len(batch)
            batch = []
    if batch:
        indexer.add_batch_dict(batch)
        count += len(batch)
    indexer.close()
    if count == 0:
        raise ResrankError("corpus has no documents")
    return count


def open_searcher(index: str | Path) -> Any:
    """A LuceneSearcher over a local index dir, or a Pyserini prebuilt index name (needs the network)."""
    searcher_cls = pyserini_module("pyserini.search.lucene").LuceneSearcher
    path = Path(index)
    if path.is_dir():
        return searcher_cls(str(path))
    try:
        searcher = searcher_cls.from_prebuilt_index(str(index))
    except Exception as exc:  # Pyserini raises bare exceptions (or Java ones) when offline
        raise ResrankError(f"prebuilt index {index!r} could not be opened ({type(exc).__name__}); offline, pass --corpus DIR to index a local copy") from None
    if searcher is None:
        raise ResrankError(f"prebuilt index {index!r} is unknown or could not be downloaded (offline?); pass --corpus DIR (a local BEIR copy) or --index DIR")
    return searcher


def bm25_search(
    searcher: Any,
    topics: dict[str, Query],
    hits: int = 1000,
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
    if hits < 1 or batch_size < 1 or threads < 1:
        raise ResrankError(f"bm25: --hits, --batch-size and --threads must be at least 1 (got {hits}, {batch_size}, {threads})")
    searcher.set_bm25(k1, b)
    depth = hits + 1 if remove_query else hits
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


def lucene_passages(searcher: Any, docids: Iterable[str]) -> dict[str, str]:
    """Passage text from an index's stored raw documents (``contents``, or BEIR title + text)."""
    passages = {}
    for docid in docids:
        doc = searcher.doc(docid)
        if doc is None:
            raise ResrankError(f"docid {docid!r} is not in the index")
        raw = doc.raw()
        try:
            record = json.loads(raw)
        except (TypeError, json.JSONDecodeError):
            passages[docid] = raw or doc.contents()
            continue
        passages[docid] = record.get("contents") or Passage(record.get("title") or "", record.get("text") or "")
    return passages
