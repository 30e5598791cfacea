"""BEIR-format corpora (``corpus.jsonl[.gz]``) and the passage texts rerankers read.

One format for every text store: ``import-candidates`` writes rank_llm passages as a BEIR corpus,
so a reranker reads text the same way whether it came from BEIR, Lucene or a candidate file.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ResrankError
from ..formats.atomic import atomic_write
from ..formats.jsonl import iter_jsonl
from ..logs import progress


@dataclass(frozen=True)
class Document:
    docid: str
    title: str
    text: str

    @property
    def contents(self) -> str:
        """Title and text in one field, as Pyserini's BEIR "flat" indexes store them."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


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
    """Stream documents, failing on the first malformed line with its file and line number."""
    path = corpus_file(corpus)
    for lineno, record in iter_jsonl(path):
        if not isinstance(record, dict) or "_id" not in record:
            raise InputError(path, lineno, "document has no '_id'")
        text = record.get("text", record.get("contents"))
        if not isinstance(text, str):
            raise InputError(path, lineno, "document has no string 'text'")
        yield Document(str(record["_id"]), str(record.get("title") or ""), text)


def load_passages(corpus: str | Path, docids: Collection[str] | None = None) -> dict[str, str]:
    """docid -> contents, for ``docids`` only when given (one streaming pass, bounded memory)."""
    wanted = set(docids) if docids is not None else None
    scan = progress(iter_corpus(corpus), desc="reading corpus", unit="doc")
    passages = {d.docid: d.contents for d in scan if wanted is None or d.docid in wanted}
    if wanted is not None:
        missing = wanted - passages.keys()
        if missing:
            example = sorted(missing)[0]
            raise ResrankError(f"{corpus_file(corpus)}: {len(missing)} run docids have no text, e.g. {example!r}")
    return passages


def write_corpus(path: str | Path, documents: dict[str, str]) -> None:
    """Write docid -> text as a BEIR corpus JSONL (atomically)."""
    with atomic_write(path) as handle:
        for docid, text in documents.items():
            handle.write(json.dumps({"_id": docid, "title": "", "text": text}, ensure_ascii=False) + "\n")
