"""Topic files: TREC-style ``qid<TAB>text`` (optionally gzipped) and BEIR ``queries.jsonl``."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..types import Query
from .atomic import open_text
from .jsonl import parse_json_line


def read_topics(path: str | Path) -> dict[str, Query]:
    """Read topics from TSV (``qid\\ttext``) or JSONL (``{"_id", "text"}``), by content."""
    topics: dict[str, Query] = {}
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                query = _jsonl_query(path, lineno, line)
            else:
                qid, sep, text = line.rstrip("\n").partition("\t")
                if not sep or not qid.strip() or not text.strip():
                    raise InputError(path, lineno, "expected 'qid<TAB>query text'")
                query = Query(qid.strip(), text.strip())
            topics[query.qid] = query
    if not topics:
        raise InputError(path, None, "no topics found (empty file)")
    return topics


def _jsonl_query(path: str | Path, lineno: int, line: str) -> Query:
    record = parse_json_line(path, lineno, line)
    if not isinstance(record, dict) or "_id" not in record or "text" not in record:
        raise InputError(path, lineno, "a query record needs '_id' and 'text'")
    return Query(str(record["_id"]), str(record["text"]))
