"""Check a run file the way TREC submission checkers do, stopping at the first offending line.

Stricter than ``read_run`` (which accepts anything trec_eval can score): a leaderboard run must
also keep each query's lines together, in rank order 1, 2, 3, ... with strictly decreasing scores,
use one run tag, and stay within the hit budget.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..formats.atomic import open_text


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

    def check(self, parts: list[str]) -> None:
        if len(parts) != 6:
            raise _Violation(f"expected 6 columns (qid Q0 docid rank score tag), got {len(parts)}")
        qid, q0, docid, rank_text, score_text, tag = parts
        if q0 != "Q0":
            raise _Violation(f"second column must be 'Q0', got {q0!r}")
        if not rank_text.isdigit() or int(rank_text) < 1:
            raise _Violation(f"rank {rank_text!r} is not a positive integer")
        try:
            score = float(score_text)
        except ValueError:
            raise _Violation(f"score {score_text!r} is not a number") from None
        if not math.isfinite(score):
            raise _Violation(f"score {score_text!r} is not finite")
        self.tag = self.tag or tag
        if tag != self.tag:
            raise _Violation(f"run tag {tag!r} differs from {self.tag!r} (one run per file)")
        if self.qids is not None and qid not in self.qids:
            raise _Violation(f"unknown query {qid!r} (not a topic of the dataset)")
        if qid != self.current:
            self._start_query(qid)
        self._check_hit(qid, docid, int(rank_text), score, score_text)

    def _start_query(self, qid: str) -> None:
        if qid in self.seen:
            raise _Violation(f"query {qid!r} appears again after other queries (a query's lines must be contiguous)")
        self.seen.add(qid)
        self.current, self.docids, self.last_rank, self.last_score = qid, set(), 0, math.inf

    def _check_hit(self, qid: str, docid: str, rank: int, score: float, score_text: str) -> None:
        if docid in self.docids:
            raise _Violation(f"duplicate docid {docid!r} for query {qid!r}")
        if len(self.docids) >= self.max_hits:
            raise _Violation(f"query {qid!r} has more than {self.max_hits} hits")
        if rank != self.last_rank + 1:
            raise _Violation(f"rank {rank} for query {qid!r} should be {self.last_rank + 1} (ranks count up from 1 in file order)")
        if score >= self.last_score:
            raise _Violation(f"score {score_text} for query {qid!r} does not strictly decrease (previous {self.last_score!r})")
        self.docids.add(docid)
        self.last_rank, self.last_score = rank, score


def validate_run(path: str | Path, max_hits: int = 1000, qids: Collection[str] | None = None) -> RunSummary:
    """Raise :class:`InputError` naming ``path:line`` of the first violation; ``qids`` are the known topics."""
    checker = _Checker(max_hits, qids)
    lines = 0
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                checker.check(line.split())
            except _Violation as exc:
                raise InputError(path, lineno, str(exc)) from None
            lines += 1
    if checker.tag is None:
        raise InputError(path, None, "empty run file")
    return RunSummary(len(checker.seen), lines, checker.tag)
