"""Topic files: TREC-style ``qid<TAB>text`` (optionally gzipped) and BEIR ``queries.jsonl``."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import InputError, ResrankError
from ..types import Query
from .atomic import atomic_write
from .ids import FirstSeen, check_id, check_text, is_blank
from .jsonl import parse_json_line
from .text import iter_lines

log = logging.getLogger(__name__)


def read_topics(path: str | Path) -> dict[str, Query]:
    """Read topics from TSV (``qid\\ttext``) or JSONL (``{"_id", "text"}``), by content; a qid given twice is an error."""
    topics: dict[str, Query] = {}
    seen = FirstSeen()
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        query = _jsonl_query(path, lineno, line) if line.lstrip().startswith("{") else _tsv_query(path, lineno, line)
        try:
            add_query(topics, seen, query, f"line {lineno}")
        except ValueError as exc:
            raise InputError(path, lineno, str(exc)) from None
    if not topics:
        raise InputError(path, None, "no topics found (empty file)")
    return topics


def check_query(qid: object, text: object) -> Query:
    """A topic as every topics reader takes one (these files, and ir_datasets' in :mod:`..datasets.irds`): its qid an id
    (:func:`check_id`), its text a non-blank string a tokenizer reads; ``ValueError`` says what is wrong (callers add where)."""
    if not isinstance(text, str) or is_blank(text):
        raise ValueError("a query's 'text' must be a non-empty string")
    text = check_text(text, "a query's 'text'")  # JSON's "\\ud800" escape reads as a lone surrogate
    return Query(check_id(qid, "qid"), text)


def add_query(topics: dict[str, Query], seen: FirstSeen, query: Query, where: str) -> None:
    """Add ``query``, found at ``where``, to ``topics``; a qid given twice is an error (``ValueError`` naming where it was
    first), not the later text silently replacing the earlier."""
    first = seen.add(query.qid, where)
    if first is not None:
        raise ValueError(f"duplicate qid {query.qid!r} (first at {first})")
    topics[query.qid] = query


def check_run_topics(qids: Iterable[str], topics: Mapping[str, Query], choose: str) -> None:
    """Every run query in ``qids`` has its text in ``topics`` (the one check of rerankers and candidate writers); else one
    error naming how many lack it, one of them, and ``choose``: the arguments that pick the topics."""
    missing = [qid for qid in qids if qid not in topics]
    if missing:
        raise ResrankError(f"{len(missing)} run queries have no topic text (e.g. {missing[0]!r}); check {choose}")


def write_topics(path: str | Path, topics: Mapping[str, Query]) -> None:
    """Write a ``qid<TAB>text`` file atomically; line breaks and tabs inside a query become spaces (one line per query)."""
    flattened = 0
    with atomic_write(path) as handle:
        for query in topics.values():
            text = " ".join(query.text.split())
            flattened += text != query.text.strip()
            if is_blank(text):
                raise InputError(path, None, f"query {query.qid!r} has no text")
            handle.write(f"{check_id(query.qid, 'qid')}\t{text}\n")
    if flattened:
        log.warning("%s: %d queries had line breaks, tabs or repeated spaces, written as single spaces", path, flattened)


def _tsv_query(path: str | Path, lineno: int, line: str) -> Query:
    qid, sep, text = line.partition("\t")
    if not sep or not qid.strip() or is_blank(text):
        raise InputError(path, lineno, "expected 'qid<TAB>query text'")
    return _query(path, lineno, qid.strip(), text.strip())


def _jsonl_query(path: str | Path, lineno: int, line: str) -> Query:
    record = parse_json_line(path, lineno, line)
    if not isinstance(record, dict) or "_id" not in record or "text" not in record:
        raise InputError(path, lineno, "a query record needs '_id' and 'text'")
    return _query(path, lineno, record["_id"], record["text"])


def _query(path: str | Path, lineno: int, qid: object, text: object) -> Query:
    try:
        return check_query(qid, text)
    except ValueError as exc:
        raise InputError(path, lineno, str(exc)) from None
