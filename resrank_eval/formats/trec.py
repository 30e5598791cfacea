"""TREC run and qrels files, validated line by line.

Runs are written in the canonical order trec_eval itself uses (score descending, ties broken by
docid descending) with strictly decreasing scores, so the order a reader sees is the order every
evaluator scores: no silent re-sorting of ties between tools.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ResrankError
from ..numeric import strictly_decreasing, trec_eval_scores
from ..types import Candidate, Qrels, Run
from .atomic import atomic_write
from .ids import check_columns, check_id, check_integer, check_score
from .text import iter_lines

LEADERBOARD_HITS = 1000
"""The most hits per query a leaderboard run holds (TREC's 1,000; Pyserini's --hits): unless told otherwise, the depth first
stages retrieve, fusion reads and keeps, and ``validate`` allows."""

PYSERINI_SCORE_DECIMALS = 6
"""Pyserini's run writer prints scores with 6 decimals, so hits equal to 6 decimals are ties in its runs."""


@dataclass(frozen=True)
class RunLine:
    """One line of a TREC run: ``qid Q0 docid rank score tag``."""

    qid: str
    q0: str
    docid: str
    rank: int
    score: float
    tag: str


def parse_run_line(line: str) -> RunLine:
    """The one TREC run line parser: six columns, an integer rank, a score (:func:`check_score`); ``ValueError`` says what is wrong."""
    parts = line.split()
    if len(parts) != 6:
        raise ValueError(f"expected 6 columns (qid Q0 docid rank score tag), got {len(parts)}")
    qid, q0, docid, rank, score_text, tag = parts
    if not line.isprintable():  # a tab, or a control character inside a column (C-fast test first: runs are long)
        check_columns(qid=qid, docid=docid, tag=tag)
    return RunLine(qid, q0, docid, check_integer(rank, "rank"), check_score(score_text), tag)


def iter_run_lines(path: str | Path) -> Iterator[tuple[int, RunLine]]:
    """(line number, parsed line) for every non-blank line of a (gzipped) run; errors name ``path:line``."""
    for lineno, line in iter_lines(path):
        if line.strip():
            try:
                yield lineno, parse_run_line(line)
            except ValueError as exc:
                raise InputError(path, lineno, str(exc)) from None


def read_run(path: str | Path) -> Run:
    """Read a TREC run, each query's lines in the order trec_eval scores them (:func:`canonical_order`)."""
    run: Run = {}
    seen: dict[str, set[str]] = {}
    for lineno, line in iter_run_lines(path):
        docs = seen.setdefault(line.qid, set())
        if line.docid in docs:
            first = next(n for n, earlier in iter_run_lines(path) if (earlier.qid, earlier.docid) == (line.qid, line.docid))
            raise InputError(path, lineno, f"duplicate docid {line.docid!r} for query {line.qid!r} (first at line {first})")
        docs.add(line.docid)
        run.setdefault(line.qid, []).append(Candidate(line.docid, line.score))
    if not run:
        raise InputError(path, None, "no run lines (empty file)")
    return {qid: canonical_order(candidates) for qid, candidates in run.items()}


def canonical_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Sort as trec_eval does (how every run is read back): score descending, compared as trec_eval holds it
    (:func:`~resrank_eval.numeric.trec_eval_scores`), ties by docid descending."""
    candidates = list(candidates)
    scores = trec_eval_scores([c.score for c in candidates])
    order = sorted(range(len(candidates)), key=lambda i: (scores[i], candidates[i].docid), reverse=True)
    return [candidates[i] for i in order]


def pyserini_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The order in which trec_eval scores Pyserini's own run of these hits (the order every first stage returns).

    Pyserini writes hits in the searcher's order with 6-decimal scores, and trec_eval breaks the ties
    of those by docid descending. Written with :func:`format_run_lines`' strictly decreasing scores,
    this order is then the evaluated order too, whichever tool reads the file.
    """
    return sorted(candidates, key=lambda c: (round(c.score, PYSERINI_SCORE_DECIMALS), c.docid), reverse=True)


def format_run_lines(path: str | Path, run: Run, tag: str) -> Iterable[str]:
    """Yield TREC lines for candidates already in the intended rank order; ids and scores are checked
    (``ResrankError`` naming ``path``, the file they are for), so a run is never written that :func:`read_run` would refuse."""
    for qid, candidates in run.items():
        try:
            check_id(qid, "qid")
            scores = strictly_decreasing([check_score(c.score, f"score of {c.docid!r}") for c in candidates])
            docids = [check_id(c.docid, "docid") for c in candidates]
        except ValueError as exc:
            raise ResrankError(f"{path}: cannot write query {qid!r} of the run: {exc}") from None
        if len(set(docids)) != len(docids):
            raise ResrankError(f"{path}: cannot write query {qid!r} of the run: a docid occurs twice")
        for rank, (docid, score) in enumerate(zip(docids, scores), 1):
            yield f"{qid} Q0 {docid} {rank} {score!r} {tag}\n"


def check_tag(tag: str) -> str:
    """A run tag is the 6th column, so it must be one non-empty word its readers accept (no control characters)."""
    if not tag or any(ch.isspace() for ch in tag) or not tag.isprintable():
        raise ResrankError(f"run tag must be one non-empty word without control characters, got {tag!r}")
    return tag


def run_file_name(dataset: str, system: str, split: str = "test") -> str:
    """Pyserini's deterministic run name, ``run.<dataset>.<system>.<split>.txt`` (``beir/x`` written ``beir-x``)."""
    return f"run.{dataset.replace('/', '-')}.{system}.{split}.txt"


def write_run(path: str | Path, run: Run, tag: str) -> None:
    """Write a run atomically; each query's candidates must be in rank order already."""
    check_tag(tag)
    with atomic_write(path) as handle:
        handle.writelines(format_run_lines(path, run, tag))


def read_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels (``qid iter docid rel``) or BEIR qrels TSV (``query-id corpus-id score``)."""
    qrels: Qrels = {}
    for lineno, (qid, docid, label) in _iter_judgments(path):
        try:
            add_judgment(qrels, qid, docid, label)
        except ValueError as exc:
            first = next(n for n, (q, d, _) in _iter_judgments(path) if (q, d) == (qid, docid))
            raise InputError(path, lineno, f"{exc} (first at line {first})") from None
    if not qrels:
        raise InputError(path, None, "no judgments found")
    return qrels


def add_judgment(qrels: Qrels, qid: str, docid: str, label: int) -> None:
    """Add one judgment to ``qrels`` (every qrels reader's: these files, and ir_datasets' in :mod:`..datasets.irds`); a
    passage judged twice for one query is an error (``ValueError``; callers add where the first was), not the later label
    silently replacing the earlier. Qrels are long, so where each judgment was is not kept: callers look for the first."""
    judged = qrels.setdefault(qid, {})
    if docid in judged:
        raise ValueError(f"query {qid!r} judges docid {docid!r} twice")
    judged[docid] = label


QRELS_COLUMNS = {4: "qid iter docid rel", 3: "qid docid rel"}
"""The two qrels layouts: TREC's, and BEIR's TSV (whose header ``query-id corpus-id score`` is skipped)."""


def _iter_judgments(path: str | Path) -> Iterator[tuple[int, tuple[str, str, int]]]:
    """Judgments with the columns of the file's first line: a TREC line that lost a column is an error, not a
    3-column judgment of docid ``iter`` (``19335 0 1017759`` would judge '0' as 1017759)."""
    first: tuple[int, int] | None = None  # (line, columns) that set the file's layout
    for lineno, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        if first is None:
            if len(parts) not in QRELS_COLUMNS:
                raise InputError(path, lineno, f"expected 'qid iter docid rel' (4 columns) or 'qid docid rel', got {len(parts)} columns")
            first = (lineno, len(parts))
            if lineno == 1 and parts[0] == "query-id":
                continue
        elif len(parts) != first[1]:
            raise InputError(path, lineno, f"got {len(parts)} columns, but line {first[0]} has {first[1]} ({QRELS_COLUMNS[first[1]]})")
        qid, docid, rel = parts[0], parts[-2], parts[-1]
        try:
            check_columns(qid=qid, docid=docid)
        except ValueError as exc:
            raise InputError(path, lineno, str(exc)) from None
        try:
            label = check_integer(rel, "relevance")
        except ValueError as exc:
            raise InputError(path, lineno, str(exc)) from None
        yield lineno, (qid, docid, label)
