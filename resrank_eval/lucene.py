"""Lucene index access that is not retrieval: opening a searcher, reading the raw documents it stores.

Beside :mod:`.jvm` (which must run before any Pyserini import): the passage lookup of a rerank and
BM25 retrieval both open indexes here, so datasets never import the retrieval layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ResrankError
from .jvm import pyserini_module
from .types import Passage


def open_searcher(index: str | Path) -> Any:
    """A LuceneSearcher over a local index dir, or a Pyserini prebuilt index name (needs the network)."""
    searcher_cls = pyserini_module("pyserini.search.lucene").LuceneSearcher
    path = Path(index)
    if path.is_dir():
        from jnius import JavaException  # after pyserini_module: importing jnius first would start a JVM without Anserini

        try:
            return searcher_cls(str(path))
        except JavaException as exc:  # a folder with no segments file, or one of its files gone, is a page of Java trace
            raise ResrankError(f"{path}: not a readable Lucene index ({exc.classname.rsplit('.', 1)[-1]}); build one with "
                               "resrank-eval index --index DIR") from None
    try:
        searcher = searcher_cls.from_prebuilt_index(str(index))
    except Exception as exc:  # Pyserini raises bare exceptions (or Java ones) when offline
        raise ResrankError(f"prebuilt index {index!r} could not be opened ({type(exc).__name__}); offline, pass `corpus` to index a local copy") from None
    if searcher is None:
        raise ResrankError(f"prebuilt index {index!r} is unknown or could not be downloaded (offline?); pass `corpus` (a local BEIR copy) or a Lucene index folder")
    return searcher


def lucene_passages(searcher: Any, docids: Iterable[str]) -> dict[str, str]:
    """Passage text from an index's stored raw documents: BEIR's title and text where the raw document keeps them (Pyserini's
    BEIR indexes, and those :func:`~resrank_eval.retrieve.bm25.build_lucene_index` builds) -- the corpus's passage, title
    apart -- else ``contents`` (MS MARCO's, or an index built before the title was kept)."""
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
        text = record.get("text")
        passages[docid] = Passage(record.get("title") or "", text) if isinstance(text, str) else record.get("contents") or ""
    return passages
