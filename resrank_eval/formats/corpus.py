"""The BEIR corpus format (``corpus.jsonl[.gz]``): read, checked line by line, and written.

One format for every text store: ``import-candidates`` writes rank_llm passages as a BEIR corpus,
so a reranker reads text the same way whether it came from BEIR, Lucene or a candidate file.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ResrankError
from ..logs import progress
from ..types import Passage
from .atomic import atomic_write
from .ids import check_id, check_text
from .jsonl import iter_jsonl


@dataclass(frozen=True)
class Document:
    docid: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text in one field, as Pyserini's BEIR "flat" indexes store them."""
        return str(self.passage)

    @property
    def passage(self) -> Passage:
        """The contents as rerankers read them, the title kept apart for prompts that show it."""
        return Passage(self.title, self.text)


def corpus_file(corpus: str | Path) -> Path:
    """The corpus JSONL inside a BEIR directory, or the file itself."""
    path = Path(corpus)
    if path.is_file():
        return path
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (path / name).exists():
            return path / name
    if not path.exists():
        raise ResrankError(f"{path}: corpus directory does not exist")
    raise ResrankError(f"{path}: no corpus.jsonl or corpus.jsonl.gz inside")


def iter_corpus(corpus: str | Path) -> Iterator[Document]:
    """Stream documents, failing on the first malformed line with its file and line number.

    A docid given twice is an error naming both lines: an index would hold both, and a run then
    lists one document twice. (The ids seen are kept in memory; the first line is found again only
    when there is a duplicate to report.)
    """
    path = corpus_file(corpus)
    seen: set[str] = set()
    for lineno, record in iter_jsonl(path):
        document = _document(path, lineno, record)
        if document.docid in seen:
            first = next(n for n, other in iter_jsonl(path) if isinstance(other, dict) and str(other.get("_id")) == document.docid)
            raise InputError(path, lineno, f"duplicate _id {document.docid!r} (first at line {first})")
        seen.add(document.docid)
        yield document


def _document(path: Path, lineno: int, record: object) -> Document:
    if not isinstance(record, dict) or "_id" not in record:
        raise InputError(path, lineno, "document has no '_id'")
    try:
        docid = check_id(record["_id"], "_id")
    except ValueError as exc:
        raise InputError(path, lineno, str(exc)) from None
    text = record.get("text", record.get("contents"))
    if not isinstance(text, str):
        raise InputError(path, lineno, "document has no string 'text'")
    title = record.get("title") or ""
    if not isinstance(title, str):
        raise InputError(path, lineno, "document 'title' must be a string")
    try:  # JSON's "\\ud800" escape reads as a lone surrogate
        return Document(docid, check_text(title, "document 'title'"), check_text(text, "document 'text'"))
    except ValueError as exc:
        raise InputError(path, lineno, str(exc)) from None


def load_passages(corpus: str | Path, docids: Collection[str] | None = None) -> dict[str, str]:
    """docid -> contents (:class:`~resrank_eval.types.Passage`), for ``docids`` only when given (one streaming pass, bounded memory)."""
    wanted = set(docids) if docids is not None else None
    scan = progress(iter_corpus(corpus), desc="reading corpus", unit="doc")
    passages = {d.docid: d.passage for d in scan if wanted is None or d.docid in wanted}
    if wanted is not None:
        missing = wanted - passages.keys()
        if missing:
            example = sorted(missing)[0]
            raise ResrankError(f"{corpus_file(corpus)}: {len(missing)} run docids have no text, e.g. {example!r}")
    return passages


def write_corpus(path: str | Path, documents: dict[str, str]) -> None:
    """Write docid -> text as a BEIR corpus JSONL (atomically); docids checked like the reader does. A
    :class:`~resrank_eval.types.Passage` keeps its title apart, so it reads back as the same passage (prompts show it)."""
    with atomic_write(path) as handle:
        for docid, text in documents.items():
            passage = text if isinstance(text, Passage) else Passage("", text)
            try:
                record = {"_id": check_id(docid, "_id"), "title": passage.title, "text": passage.body}
            except ValueError as exc:
                raise ResrankError(f"{path}: cannot write the corpus: {exc}") from None
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
