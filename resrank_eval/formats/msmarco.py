"""The MS MARCO leaderboard run format: ``qid<TAB>docid<TAB>rank``, ranks counting up from 1 per query.

It carries no scores, so reading gives each hit the score ``-rank`` (rank order is score order), and
writing keeps only the order. Checked line by line as strictly as ``validate`` checks a TREC run:
three tab-separated columns, contiguous queries, ranks 1, 2, 3, ..., no docid twice in a query.
``convert-run`` (:mod:`resrank_eval.datasets.interchange`) converts either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from ..types import Candidate, Run
from .atomic import atomic_write
from .ids import check_id, check_integer
from .text import iter_lines

FORMATS = ("trec", "msmarco")


def iter_msmarco_lines(path: str | Path) -> Iterator[tuple[int, str, str, int]]:
    """(line number, qid, docid, rank) per non-blank line, with every rule checked; errors name ``path:line``."""
    seen: set[str] = set()
    current, docids, last_rank = None, set[str](), 0
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not all(p.strip() == p and p for p in parts):
            raise InputError(path, lineno, f"expected 'qid<TAB>docid<TAB>rank' (3 tab-separated columns), got {line.strip()[:80]!r}")
        try:
            qid, docid, rank = check_id(parts[0], "qid"), check_id(parts[1], "docid"), check_integer(parts[2], "rank")
        except ValueError as exc:
            raise InputError(path, lineno, str(exc)) from None
        if rank < 1:
            raise InputError(path, lineno, f"rank {parts[2]!r} is not a positive integer")
        if qid != current:
            if qid in seen:
                raise InputError(path, lineno, f"query {qid!r} appears again after other queries (a query's lines must be contiguous)")
            seen.add(qid)
            current, docids, last_rank = qid, set(), 0
        if docid in docids:
            raise InputError(path, lineno, f"duplicate docid {docid!r} for query {qid!r}")
        if rank != last_rank + 1:
            raise InputError(path, lineno, f"rank {parts[2]} for query {qid!r} should be {last_rank + 1}")
        docids.add(docid)
        last_rank = rank
        yield lineno, qid, docid, last_rank
    if current is None:
        raise InputError(path, None, "empty run file")


def looks_like_msmarco(path: str | Path) -> bool:
    """The first non-blank line has three tab-separated columns (a TREC run has six, space-separated)."""
    for _, line in iter_lines(path):
        if line.strip():
            return len(line.split("\t")) == 3
    return False


def read_msmarco_run(path: str | Path) -> Run:
    """A run whose scores are ``-rank``, in file order."""
    run: Run = {}
    for _, qid, docid, rank in iter_msmarco_lines(path):
        run.setdefault(qid, []).append(Candidate(docid, float(-rank)))
    return run


def write_msmarco_run(path: str | Path, run: Run) -> None:
    """Each query's candidates (already in rank order) as ``qid<TAB>docid<TAB>rank``, atomically."""
    with atomic_write(path) as handle:
        for qid, candidates in run.items():
            handle.writelines(f"{qid}\t{c.docid}\t{rank}\n" for rank, c in enumerate(candidates, 1))
