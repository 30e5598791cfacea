"""rank_llm / RankGPT candidate JSON: ``[{"query": str, "hits": [{content, qid, docid, rank, score}]}]``.

The interchange format of the RankGPT ecosystem, and the only offline source of DL19/DL20 text.
:func:`read_candidates` also reads rank_llm's current Request/Result files (:mod:`.requests`); the
``import-candidates`` and ``export-candidates`` steps are :mod:`resrank_eval.datasets.interchange`.

A titled passage is one string in a hit's ``content``, as RankGPT's retrieval writes it (:mod:`.content` says how).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Candidate, Query, Run
from .atomic import atomic_write
from .content import PassageTexts, content_text, hit_content
from .ids import FirstSeen, check_id, check_score, check_text, is_blank
from .jsonl import read_json
from .requests import check_export, is_request, is_requests_file, read_requests

HIT_KEYS = ("content", "qid", "docid", "score")


@dataclass
class CandidateSet:
    """What one candidate file holds: the topics, the first-stage run and the passage texts."""

    topics: dict[str, Query]
    run: Run
    passages: dict[str, str]


def read_candidates(path: str | Path, document: Any = None) -> CandidateSet:
    """Parse and validate a candidate file (RankGPT JSON, or rank_llm Request JSON/JSONL); errors name the entry and hit
    that is wrong (and the first one of a clash). ``document``: a JSON file's contents as :func:`read_json` parsed them,
    for a caller that checks them too, so the file is parsed once."""
    if is_requests_file(path):
        return _nonempty(path, CandidateSet(*read_requests(path)))
    entries = read_json(path) if document is None else document
    if not isinstance(entries, list):
        raise InputError(path, 1, "expected a JSON list of {query, hits} objects")
    if entries and is_request(entries[0]):
        return _nonempty(path, CandidateSet(*read_requests(path, entries)))
    result = CandidateSet({}, {}, {})
    reader = _Reader(path, result)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str) or not isinstance(entry.get("hits"), list):
            raise InputError(path, None, f"entry {i}: needs a string 'query' and a list 'hits'")
        reader.add_entry(i, entry)
    return _nonempty(path, result)


def _nonempty(path: str | Path, result: CandidateSet) -> CandidateSet:
    if not result.run:
        raise InputError(path, None, "no queries with hits")
    return result


class _Reader:
    """One file's checks: every id and score valid, a query in one entry only, one text per docid."""

    def __init__(self, path: str | Path, result: CandidateSet) -> None:
        self.path, self.result = path, result
        self.queries, self.hits, self.texts = FirstSeen(), FirstSeen(), PassageTexts(result.passages)

    def error(self, where: str, message: str) -> InputError:
        return InputError(self.path, None, f"{where}: {message}")

    def add_entry(self, index: int, entry: dict) -> None:
        try:  # JSON's "\\ud800" escape reads as a lone surrogate, which fails only when written, naming no file
            query = check_text(entry["query"], "query")
        except ValueError as exc:
            raise self.error(f"entry {index}", str(exc)) from None
        if is_blank(query):  # refused here, not when a topics file is written after the run and passages are
            raise self.error(f"entry {index}", "'query' has no text")
        qid = None
        for j, hit in enumerate(entry["hits"]):
            where = f"entry {index}, hit {j}"
            missing = [key for key in HIT_KEYS if not isinstance(hit, dict) or key not in hit]
            if missing:
                raise self.error(where, f"missing {', '.join(missing)}")
            try:
                hit_qid, docid = check_id(hit["qid"], "qid"), check_id(hit["docid"], "docid")
                score = check_score(hit["score"])
                content = check_text(hit["content"], f"content of {docid!r}")
            except ValueError as exc:
                raise self.error(where, str(exc)) from None
            if qid is None:
                first = self.queries.add(hit_qid, f"entry {index}")
                if first is not None:
                    raise self.error(where, f"query {hit_qid!r} already has an entry ({first})")
            elif hit_qid != qid:
                raise self.error(where, f"qid {hit_qid!r} differs from {qid!r}")
            qid = hit_qid
            self._add_hit(where, qid, docid, score, content_text(content))
        if qid is not None:
            self.result.topics[qid] = Query(qid, query)

    def _add_hit(self, where: str, qid: str, docid: str, score: float, text: str) -> None:
        first = self.hits.add((qid, docid), where)
        if first is not None:
            raise self.error(where, f"duplicate docid {docid!r} (first at {first})")
        try:
            self.texts.add(docid, text, where)
        except ValueError as exc:
            raise self.error(where, str(exc)) from None
        self.result.run.setdefault(qid, []).append(Candidate(docid, score))


def write_candidates(path: str | Path, topics: dict[str, Query], run: Run, passages: dict[str, str]) -> None:
    """Export a run (in rank order) with its texts back to candidate JSON, atomically; checked (:func:`check_export`)."""
    check_export(path, topics, run)
    entries = []
    for qid, candidates in run.items():
        hits = [{"content": hit_content(passages[c.docid]), "qid": qid, "docid": c.docid, "rank": rank, "score": c.score}
                for rank, c in enumerate(candidates, 1)]
        entries.append({"query": topics[qid].text, "hits": hits})
    with atomic_write(path) as handle:
        json.dump(entries, handle, ensure_ascii=False, indent=1)
