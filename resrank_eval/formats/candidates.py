"""rank_llm / RankGPT candidate JSON: ``[{"query": str, "hits": [{content, qid, docid, rank, score}]}]``.

The interchange format of the RankGPT ecosystem, and the only offline source of DL19/DL20 text.
:func:`read_candidates` also reads rank_llm's current Request/Result files (:mod:`.requests`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..types import Candidate, Query, Run
from .atomic import atomic_write, open_text
from .requests import is_request, is_requests_file, read_requests

HIT_KEYS = ("content", "qid", "docid", "score")


@dataclass
class CandidateSet:
    """What one candidate file holds: the topics, the first-stage run and the passage texts."""

    topics: dict[str, Query]
    run: Run
    passages: dict[str, str]


def read_candidates(path: str | Path) -> CandidateSet:
    """Parse and validate a candidate file (RankGPT JSON, or rank_llm Request JSON/JSONL); errors name the entry and hit that is wrong."""
    if is_requests_file(path):
        return _nonempty(path, CandidateSet(*read_requests(path)))
    try:
        with open_text(path) as handle:
            entries = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(entries, list):
        raise InputError(path, 1, "expected a JSON list of {query, hits} objects")
    if entries and is_request(entries[0]):
        return _nonempty(path, CandidateSet(*read_requests(path, entries)))
    result = CandidateSet({}, {}, {})
    seen: dict[str, set[str]] = {}  # docids per query so far, for O(1) duplicate checks
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str) or not isinstance(entry.get("hits"), list):
            raise InputError(path, None, f"entry {i}: needs a string 'query' and a list 'hits'")
        _add_entry(path, i, entry, result, seen)
    return _nonempty(path, result)


def _nonempty(path: str | Path, result: CandidateSet) -> CandidateSet:
    if not result.run:
        raise InputError(path, None, "no queries with hits")
    return result


def _add_entry(path: str | Path, index: int, entry: dict, result: CandidateSet, seen: dict[str, set[str]]) -> None:
    qid = None
    for j, hit in enumerate(entry["hits"]):
        missing = [key for key in HIT_KEYS if not isinstance(hit, dict) or key not in hit]
        if missing:
            raise InputError(path, None, f"entry {index}, hit {j}: missing {', '.join(missing)}")
        hit_qid = str(hit["qid"])
        if qid is not None and hit_qid != qid:
            raise InputError(path, None, f"entry {index}, hit {j}: qid {hit_qid!r} differs from {qid!r}")
        qid = hit_qid
        try:
            score = float(hit["score"])
        except (TypeError, ValueError):
            raise InputError(path, None, f"entry {index}, hit {j}: score {hit['score']!r} is not a number") from None
        docid = str(hit["docid"])
        docids = seen.setdefault(qid, set())
        if docid in docids:
            raise InputError(path, None, f"entry {index}, hit {j}: duplicate docid {docid!r}")
        docids.add(docid)
        result.run.setdefault(qid, []).append(Candidate(docid, score))
        result.passages[docid] = str(hit["content"])
    if qid is not None:
        result.topics[qid] = Query(qid, entry["query"])


def write_candidates(path: str | Path, topics: dict[str, Query], run: Run, passages: dict[str, str]) -> None:
    """Export a run (in rank order) with its texts back to candidate JSON, atomically."""
    entries = []
    for qid, candidates in run.items():
        hits = [
            {"content": passages[c.docid], "qid": qid, "docid": c.docid, "rank": rank, "score": c.score}
            for rank, c in enumerate(candidates, 1)
        ]
        entries.append({"query": topics[qid].text, "hits": hits})
    with atomic_write(path) as handle:
        json.dump(entries, handle, ensure_ascii=False, indent=1)
