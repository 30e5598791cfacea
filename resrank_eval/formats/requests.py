"""rank_llm's current Request / Result format: ``{"query": {"text", "qid"}, "candidates": [{"docid", "score", "doc"}]}``.

One object per line (JSONL, what rank_llm writes) or a JSON list of them (what it also reads). A
Result has the same shape plus ``invocations_history``, which is ignored here. ``doc`` is the
document as the retriever stored it: ``{"contents"}`` (MS MARCO v1), ``{"title", "text"}`` (BEIR),
``{"title", "segment"}`` (MS MARCO v2), or a plain string; it is written back as ``{"title", "text"}`` when it has a
title (rank_llm's prompts show it), else as ``{"contents"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InputError, ResrankError
from ..types import Candidate, Passage, Query, Run
from .atomic import atomic_write
from .content import PassageTexts
from .ids import check_id, check_score, check_text, is_blank
from .jsonl import iter_jsonl
from .topics import check_run_topics


def is_requests_file(path: str | Path) -> bool:
    """JSON Lines by name (``.jsonl``, ``.jsonl.gz``): rank_llm's Request/Result files."""
    return Path(path).name.removesuffix(".gz").endswith(".jsonl")


def is_request(entry: Any) -> bool:
    """A Request/Result object rather than a legacy RankGPT ``{"query": str, "hits": [...]}`` entry."""
    return isinstance(entry, dict) and isinstance(entry.get("query"), dict)


def doc_text(doc: Any) -> str | None:
    """The passage text of a rank_llm ``doc``: ``contents``, else title + ``text`` / ``segment``, or the string itself."""
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("contents"), str):
        return doc["contents"]
    body = doc.get("text", doc.get("segment"))
    if not isinstance(body, str):
        return None
    title = doc.get("title")
    return Passage(title, body) if isinstance(title, str) and title else body


def doc_record(text: str) -> dict[str, str]:
    """The ``doc`` that :func:`doc_text` reads back as ``text``: a titled passage's ``{"title", "text"}``, else ``{"contents"}``."""
    if isinstance(text, Passage) and text.title:
        return {"title": text.title, "text": text.body}
    return {"contents": text}


def add_request(path: str | Path, line: int | None, index: int, entry: Any, topics: dict[str, Query], run: Run,
                texts: PassageTexts) -> None:
    """Add one Request/Result to the topics, run and texts; every malformed field, and a docid's second text, is an error at
    its line (or entry)."""
    where = f"request {index}"
    query = entry.get("query") if isinstance(entry, dict) else None
    if not isinstance(query, dict) or not isinstance(query.get("text"), str) or "qid" not in query:
        raise InputError(path, line, f"{where}: needs 'query': {{'text': str, 'qid': str}}")
    try:  # a text's JSON "\\ud800" escape reads as a lone surrogate, which fails only when written, naming no file
        qid, query_text = check_id(query["qid"], "qid"), check_text(query["text"], "query 'text'")
    except ValueError as exc:
        raise InputError(path, line, f"{where}: {exc}") from None
    if is_blank(query_text):  # refused here, not when a topics file is written after the run and passages are
        raise InputError(path, line, f"{where}: query {qid!r} has no text")
    if qid in run:
        raise InputError(path, line, f"{where}: query {qid!r} appears twice")
    candidates = entry.get("candidates")
    if not isinstance(candidates, list):
        raise InputError(path, line, f"{where}: needs a list 'candidates'")
    hits, seen = [], set()
    for j, cand in enumerate(candidates):
        if not isinstance(cand, dict) or not {"docid", "score", "doc"} <= cand.keys():
            raise InputError(path, line, f"{where}, candidate {j}: needs docid, score and doc")
        try:
            docid, score = check_id(cand["docid"], "docid"), check_score(cand["score"])
        except ValueError as exc:
            raise InputError(path, line, f"{where}, candidate {j}: {exc}") from None
        text = doc_text(cand["doc"])
        if text is None:
            raise InputError(path, line, f"{where}, candidate {j}: doc has no 'contents', 'text' or 'segment' string")
        if docid in seen:
            raise InputError(path, line, f"{where}, candidate {j}: duplicate docid {docid!r}")
        seen.add(docid)
        try:
            texts.add(docid, check_text(text, f"doc of {docid!r}"), f"{where}, candidate {j}" + (f" (line {line})" if line is not None else ""))
        except ValueError as exc:
            raise InputError(path, line, f"{where}, candidate {j}: {exc}") from None
        hits.append(Candidate(docid, score))
    topics[qid] = Query(qid, query_text)
    if hits:
        run[qid] = hits


def request_records(topics: dict[str, Query], run: Run, passages: dict[str, str]) -> Iterable[dict[str, Any]]:
    """One Request per query of ``run`` (candidates in rank order, with their texts)."""
    for qid, candidates in run.items():
        yield {"query": {"text": topics[qid].text, "qid": qid},
               "candidates": [{"docid": c.docid, "score": c.score, "doc": doc_record(passages[c.docid])} for c in candidates]}


def read_requests(path: str | Path, entries: list[Any] | None = None) -> tuple[dict[str, Query], Run, dict[str, str]]:
    """Topics, run and passages of a Request/Result JSONL file (or of ``entries``, its JSON-list form, already parsed)."""
    topics: dict[str, Query] = {}
    run: Run = {}
    texts = PassageTexts({})
    numbered = iter_jsonl(path) if entries is None else ((None, entry) for entry in entries)
    for index, (line, entry) in enumerate(numbered):
        add_request(path, line, index, entry, topics, run, texts)
    return topics, run, texts.passages


def check_export(path: str | Path, topics: dict[str, Query], run: Run) -> None:
    """What both candidate writers (:func:`write_requests`, :func:`~.candidates.write_candidates`) check before they write
    anything, so neither writes what its reader refuses: a topic for every run query, valid ids and scores."""
    check_run_topics(run, topics, "`dataset`/`topics`")
    try:
        for qid, candidates in run.items():
            check_id(qid, "qid")
            for candidate in candidates:
                check_id(candidate.docid, "docid")
                check_score(candidate.score, f"score of {candidate.docid!r}")
    except ValueError as exc:
        raise ResrankError(f"{path}: cannot write candidates: {exc}") from None


def write_requests(path: str | Path, topics: dict[str, Query], run: Run, passages: dict[str, str]) -> None:
    """rank_llm Request JSONL, atomically: what its rerankers read and its own retrievers write; checked (:func:`check_export`)."""
    check_export(path, topics, run)
    with atomic_write(path) as handle:
        for record in request_records(topics, run, passages):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
