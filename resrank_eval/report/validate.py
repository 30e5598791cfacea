"""Check a run file the way TREC submission checkers do, stopping at the first offending line.

Stricter than ``read_run`` (which accepts anything trec_eval can score): on top of the one line
parser (:func:`~resrank_eval.formats.trec.parse_run_line`), a leaderboard run must say ``Q0``, keep
each query's lines together, in rank order 1, 2, 3, ... with strictly decreasing scores (as trec_eval
holds them, 32-bit floats: scores it ties it orders by docid, not by rank), use one run tag, and stay
within the hit budget. A candidate file (RankGPT JSON, rank_llm Request/Result) is a ranking in list order
-- RankGPT's and rank_llm's rerankers take it so and ``import-candidates`` keeps it -- while trec_eval ranks the
same hits by score: its scores must strictly decrease down each list (the same 32-bit comparison), and
RankGPT's ``rank`` fields, where given, count 1, 2, 3, ... down it, or the file holds two rankings.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..formats.jsonl import read_json
from ..formats.requests import is_requests_file
from ..formats.trec import LEADERBOARD_HITS, iter_run_lines
from ..numeric import first_not_decreasing
from ..types import Run


@dataclass(frozen=True)
class RunSummary:
    """What a valid run holds."""

    queries: int
    lines: int
    tag: str


def detect_format(path: str | Path) -> str:
    """``request`` for rank_llm JSONL/JSON, ``msmarco`` for three tab-separated columns, else ``trec``."""
    from ..formats.msmarco import looks_like_msmarco
    from ..formats.requests import is_requests_file

    name = Path(path).name.removesuffix(".gz")
    if is_requests_file(path) or name.endswith(".json"):
        return "request"
    return "msmarco" if looks_like_msmarco(path) else "trec"


def validate_file(path: str | Path, fmt: str = "auto", max_hits: int = LEADERBOARD_HITS,
                  qids: Collection[str] | None = None) -> tuple[str, RunSummary]:
    """Validate a TREC run, an MS MARCO TSV run or a candidate file (rank_llm Request/Result or RankGPT JSON); returns the format."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "trec":
        return fmt, validate_run(path, max_hits, qids)
    if fmt == "msmarco":
        from ..formats.msmarco import iter_msmarco_lines

        return fmt, _check_hits(path, [(line, qid) for line, qid, _, _ in iter_msmarco_lines(path)], max_hits, qids, "-")
    from ..formats.candidates import read_candidates

    document = None if is_requests_file(path) else read_json(path)
    data = read_candidates(path, document)
    _check_list_order(path, data.run)
    if document is not None:
        _check_listed_ranks(path, document)
    return fmt, _check_hits(path, [(None, q) for q, hits in data.run.items() for _ in hits], max_hits, qids, "-")


def _check_hits(path: str | Path, hits: list[tuple[int | None, str]], max_hits: int, qids: Collection[str] | None, tag: str) -> RunSummary:
    """The rules a format's own reader does not already enforce: known topics and the hit budget."""
    counts: dict[str, int] = {}
    for line, qid in hits:
        if qids is not None and qid not in qids:
            raise InputError(path, line, f"unknown query {qid!r} (not a topic of the dataset)")
        counts[qid] = counts.get(qid, 0) + 1
        if counts[qid] > max_hits:
            raise InputError(path, line, f"query {qid!r} has more than {max_hits} hits")
    return RunSummary(len(counts), len(hits), tag)


def _check_list_order(path: str | Path, run: Run) -> None:
    """Scores that strictly decrease down each candidate list, so list order and trec_eval's score order are one ranking."""
    for qid, hits in run.items():
        j = first_not_decreasing([c.score for c in hits])
        if j is not None:
            raise InputError(path, None, f"query {qid!r}, hit {j} ({hits[j].docid!r}): score {hits[j].score!r} does not strictly "
                                         f"decrease (previous {hits[j - 1].score!r}; compared as trec_eval's 32-bit floats)")


def _check_listed_ranks(path: str | Path, entries: list[dict]) -> None:
    """RankGPT's ``rank`` fields, which no reader ranks by, count up from 1 in list order (rank_llm's Requests have none)."""
    for i, entry in enumerate(entries):
        for j, hit in enumerate(entry.get("hits", [])):
            if "rank" in hit and (type(hit["rank"]) is not int or hit["rank"] != j + 1):
                raise InputError(path, None, f"entry {i}, hit {j}: rank {hit['rank']!r} should be {j + 1} (ranks count up from 1 in list order)")


def validate_run(path: str | Path, max_hits: int = LEADERBOARD_HITS, qids: Collection[str] | None = None) -> RunSummary:
    """Raise :class:`InputError` naming ``path:line`` of the first violation; ``qids`` are the known topics."""
    tag = current = None
    seen: set[str] = set()
    docids: set[str] = set()
    lines, last_rank, last_score = 0, 0, math.inf
    for lineno, line in iter_run_lines(path):
        qid, docid, rank, score = line.qid, line.docid, line.rank, line.score
        tag = tag or line.tag
        if line.q0 != "Q0":
            raise InputError(path, lineno, f"second column must be 'Q0', got {line.q0!r}")
        if rank < 1:
            raise InputError(path, lineno, f"rank {rank} is not a positive integer")
        if line.tag != tag:
            raise InputError(path, lineno, f"run tag {line.tag!r} differs from {tag!r} (one run per file)")
        if qids is not None and qid not in qids:
            raise InputError(path, lineno, f"unknown query {qid!r} (not a topic of the dataset)")
        if qid != current:
            if qid in seen:
                raise InputError(path, lineno, f"query {qid!r} appears again after other queries (a query's lines must be contiguous)")
            seen.add(qid)
            current, docids, last_rank, last_score = qid, set(), 0, math.inf
        if docid in docids:
            raise InputError(path, lineno, f"duplicate docid {docid!r} for query {qid!r}")
        if len(docids) >= max_hits:
            raise InputError(path, lineno, f"query {qid!r} has more than {max_hits} hits")
        if rank != last_rank + 1:
            raise InputError(path, lineno, f"rank {rank} for query {qid!r} should be {last_rank + 1} (ranks count up from 1 in file order)")
        if last_rank and first_not_decreasing([last_score, score]) is not None:
            raise InputError(path, lineno, f"score {score!r} for query {qid!r} does not strictly decrease (previous {last_score!r}; "
                                           "compared as trec_eval's 32-bit floats)")
        docids.add(docid)
        lines, last_rank, last_score = lines + 1, rank, score
    if tag is None:
        raise InputError(path, None, "empty run file")
    return RunSummary(len(seen), lines, tag)
