"""Check a run file the way TREC submission checkers do, stopping at the first offending line.

Stricter than ``read_run`` (which accepts anything trec_eval can score): on top of the one line
parser (:func:`~resrank_eval.formats.trec.parse_run_line`), a leaderboard run must say ``Q0``, keep
each query's lines together, in rank order 1, 2, 3, ... with strictly decreasing scores, use one
run tag, and stay within the hit budget.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..formats.trec import RunLine, iter_run_lines


@dataclass(frozen=True)
class RunSummary:
    """What a valid run holds."""

    queries: int
    lines: int
    tag: str


class _Violation(Exception):
    """A rule broken by the current line; :func:`validate_run` adds ``path:line``."""


@dataclass
class _Checker:
    """The state the rules need: the queries seen, the current one's docids, last rank and score."""

    max_hits: int
    qids: Collection[str] | None
    tag: str | None = None
    seen: set[str] = field(default_factory=set)
    current: str | None = None
    docids: set[str] = field(default_factory=set)
    last_rank: int = 0
    last_score: float = math.inf

    def check(self, line: RunLine) -> None:
        if line.q0 != "Q0":
            raise _Violation(f"second column must be 'Q0', got {line.q0!r}")
        if line.rank < 1:
            raise _Violation(f"rank {line.rank} is not a positive integer")
        self.tag = self.tag or line.tag
        if line.tag != self.tag:
            raise _Violation(f"run tag {line.tag!r} differs from {self.tag!r} (one run per file)")
        if self.qids is not None and line.qid not in self.qids:
            raise _Violation(f"unknown query {line.qid!r} (not a topic of the dataset)")
        if line.qid != self.current:
            self._start_query(line.qid)
        self._check_hit(line.qid, line.docid, line.rank, line.score)

    def _start_query(self, qid: str) -> None:
        if qid in self.seen:
            raise _Violation(f"query {qid!r} appears again after other queries (a query's lines must be contiguous)")
        self.seen.add(qid)
        self.current, self.docids, self.last_rank, self.last_score = qid, set(), 0, math.inf

    def _check_hit(self, qid: str, docid: str, rank: int, score: float) -> None:
        if docid in self.docids:
            raise _Violation(f"duplicate docid {docid!r} for query {qid!r}")
        if len(self.docids) >= self.max_hits:
            raise _Violation(f"query {qid!r} has more than {self.max_hits} hits")
        if rank != self.last_rank + 1:
            raise _Violation(f"rank {rank} for query {qid!r} should be {self.last_rank + 1} (ranks count up from 1 in file order)")
        if score >= self.last_score:
            raise _Violation(f"score {score!r} for query {qid!r} does not strictly decrease (previous {self.last_score!r})")
        self.docids.add(docid)
        self.last_rank, self.last_score = rank, score


def detect_format(path: str | Path) -> str:
    """``request`` for rank_llm JSONL/JSON, ``msmarco`` for three tab-separated columns, else ``trec``."""
    from ..formats.msmarco import looks_like_msmarco
    from ..formats.requests import is_requests_file

    name = Path(path).name.removesuffix(".gz")
    if is_requests_file(path) or name.endswith(".json"):
        return "request"
    return "msmarco" if looks_like_msmarco(path) else "trec"


def validate_file(path: str | Path, fmt: str = "auto", max_hits: int = 1000, qids: Collection[str] | None = None) -> tuple[str, RunSummary]:
    """Validate a TREC run, an MS MARCO TSV run or a candidate file (rank_llm Request/Result or RankGPT JSON); returns the format."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "trec":
        return fmt, validate_run(path, max_hits, qids)
    if fmt == "msmarco":
        from ..formats.msmarco import iter_msmarco_lines

        return fmt, _check_hits(path, [(line, qid) for line, qid, _, _ in iter_msmarco_lines(path)], max_hits, qids, "-")
    from ..formats.candidates import read_candidates

    data = read_candidates(path)
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


def validate_run(path: str | Path, max_hits: int = 1000, qids: Collection[str] | None = None) -> RunSummary:
    """Raise :class:`InputError` naming ``path:line`` of the first violation; ``qids`` are the known topics."""
    checker = _Checker(max_hits, qids)
    lines = 0
    for lineno, line in iter_run_lines(path):
        try:
            checker.check(line)
        except _Violation as exc:
            raise InputError(path, lineno, str(exc)) from None
        lines += 1
    if checker.tag is None:
        raise InputError(path, None, "empty run file")
    return RunSummary(len(checker.seen), lines, checker.tag)
