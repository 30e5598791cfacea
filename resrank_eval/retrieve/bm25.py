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
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..datasets.corpus import Document, corpus_file, iter_corpus
from ..errors import ResrankError
from ..jvm import pyserini_module
from ..logs import progress
from ..paths import cache_dir
from ..types import Candidate, Query, Run

log = logging.getLogger(__name__)

K1, B = 0.9, 0.4
_INDEX_BATCH = 1000


def corpus_fingerprint(corpus: str | Path) -> str:
    """SHA-256 of the corpus file's bytes (the cache key of its index)."""
    digest = hashlib.sha256()
    with open(corpus_file(corpus), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bm25_index(corpus: str | Path, index_dir: str | Path | None = None, threads: int = 2, overwrite: bool = False) -> Path:
    """Return a Lucene index of ``corpus``, building it (atomically) unless a current one exists."""
    fingerprint = corpus_fingerprint(corpus)  # hashed once: cache key, staleness check and metadata
    target = Path(index_dir) if index_dir else cache_dir() / "indexes" / f"lucene-{fingerprint[:16]}"
    if (target / "resrank-index.json").exists() and not overwrite:
        recorded = json.loads((target / "resrank-index.json").read_text())
        if recorded.get("sha256") == fingerprint:
            return target
        if index_dir is not None:
            raise ResrankError(f"{target}: index was built from a different corpus; pass --overwrite to rebuild")
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("indexing %s into %s", corpus_file(corpus), target)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        count = build_lucene_index(iter_corpus(corpus), building, threads)
        meta = {"corpus": str(corpus_file(corpus)), "sha256": fingerprint, "documents": count, "fields": "title + ' ' + text"}
        (building / "resrank-index.json").write_text(json.dumps(meta, indent=2))
        if target.exists():
            shutil.rmtree(target)
        building.rename(target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


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
    """Search every topic; with ``remove_query`` drop a hit whose docid equals the qid (BEIR)."""
    if not topics:
        raise ResrankError("no topics to search")
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
                run[query.qid] = [Candidate(h.docid, float(h.score)) for h in kept[:hits]]
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
        passages[docid] = record.get("contents") or f"{record.get('title', '')} {record.get('text', '')}".strip()
    return passages
