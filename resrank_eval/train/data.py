"""Training examples as JSONL, one query per line, validated strictly so a bad file fails at its line.

A line::

    {"qid": "PLAIN-3", "query": "breast cancer and cholesterol",
     "candidates": [{"docid": "MED-1", "text": "...", "label": 1, "rank": 2}, ...],
     "positives": ["MED-1"]}

``label`` (graded relevance) and ``rank`` (1 = the teacher's best) are each optional but, when used,
present on every candidate of the line; at least one of them must be. ``score`` (the first stage's
score, optional, on every candidate or none) is what a ``first_stage_scores`` model reads. With both, labels order the
pairs and the teacher orders the pairs within a label level. ``positives`` are the
candidates the contrastive task pulls the query towards; they must be candidates (so their text is
at hand) and default to the candidates with ``label > 0``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..formats.atomic import atomic_write
from ..formats.ids import check_id, check_text, is_blank
from ..formats.jsonl import iter_jsonl

ErrorAt = Callable[[str], Exception]
"""Builds the error for the line being parsed from a message."""


@dataclass(frozen=True)
class TrainPassage:
    docid: str
    text: str
    label: int | None = None
    rank: int | None = None
    score: float | None = None
    """The first stage's score, which a ``first_stage_scores`` model reads (as at inference)."""


@dataclass(frozen=True)
class TrainExample:
    """One query with its candidate list: the unit both losses are computed on."""

    qid: str
    query: str
    candidates: tuple[TrainPassage, ...]
    positives: tuple[str, ...]

    def relevance(self) -> list[float]:
        """Per-candidate target for RankNet (higher = better): labels, refined by teacher ranks.

        Labels are ground truth, so they order pairs first; a teacher rank orders only the pairs a
        label cannot (equal labels, or no labels at all).
        """
        n = len(self.candidates)
        if self.candidates[0].rank is None:
            return [float(c.label) for c in self.candidates]  # type: ignore[arg-type]
        order = sorted(range(n), key=lambda i: self.candidates[i].rank)  # type: ignore[arg-type,return-value]
        teacher = [0.0] * n
        for position, i in enumerate(order):
            teacher[i] = float(n - 1 - position)
        if self.candidates[0].label is None:
            return teacher
        return [c.label * n + t for c, t in zip(self.candidates, teacher)]  # type: ignore[operator]

    def to_json(self) -> dict:
        candidates = []
        for c in self.candidates:
            record: dict = {"docid": c.docid, "text": c.text}
            if c.label is not None:
                record["label"] = c.label
            if c.rank is not None:
                record["rank"] = c.rank
            if c.score is not None:
                record["score"] = c.score
            candidates.append(record)
        return {"qid": self.qid, "query": self.query, "candidates": candidates, "positives": list(self.positives)}


def write_examples(path: str | Path, examples: Iterable[TrainExample]) -> int:
    """Write examples as JSONL atomically; returns how many were written."""
    count = 0
    with atomic_write(path) as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_examples(path: str | Path) -> list[TrainExample]:
    """Read and validate a training file; every problem is an :class:`InputError` at ``file:line``."""
    examples = list(iter_examples(path))
    if not examples:
        raise InputError(path, None, "no training examples (empty file)")
    return examples


def iter_examples(path: str | Path) -> Iterator[TrainExample]:
    """Stream validated examples (qids unique across the file)."""
    seen: set[str] = set()
    for lineno, record in iter_jsonl(path):
        example = _parse(record, lambda msg, lineno=lineno: InputError(path, lineno, msg))
        if example.qid in seen:
            raise InputError(path, lineno, f"duplicate qid {example.qid!r}")
        seen.add(example.qid)
        yield example


def _parse(record: object, error: ErrorAt) -> TrainExample:
    if not isinstance(record, dict):
        raise error("expected a JSON object with qid, query, candidates")
    unknown = set(record) - {"qid", "query", "candidates", "positives"}
    if unknown:
        raise error(f"unknown key(s) {', '.join(sorted(unknown))}")
    qid, query, raw = _id(record.get("qid"), "qid", error), _text(record.get("query"), "'query'", error), record.get("candidates")
    if not isinstance(raw, list) or len(raw) < 2:
        raise error("'candidates' must be a list of at least 2 passages")
    candidates = tuple(_candidate(c, i, error) for i, c in enumerate(raw))
    _check_candidates(candidates, error)
    positives = _positives(record.get("positives"), candidates, error)
    return TrainExample(qid, query, candidates, positives)


def _candidate(raw: object, index: int, error: ErrorAt) -> TrainPassage:
    where = f"candidate {index}"
    if not isinstance(raw, dict):
        raise error(f"{where}: expected an object with docid and text")
    unknown = set(raw) - {"docid", "text", "label", "rank", "score"}
    if unknown:
        raise error(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    docid, text = _id(raw.get("docid"), f"{where}: docid", error), _text(raw.get("text"), f"{where}: 'text'", error)
    label, rank = raw.get("label"), raw.get("rank")
    if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
        raise error(f"{where}: 'label' must be an integer >= 0, got {label!r}")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 1):
        raise error(f"{where}: 'rank' must be an integer >= 1, got {rank!r}")
    score = raw.get("score")
    if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score)):
        raise error(f"{where}: 'score' must be a finite number, got {score!r}")
    return TrainPassage(docid, text, label, rank, None if score is None else float(score))


def _check_candidates(candidates: tuple[TrainPassage, ...], error: ErrorAt) -> None:
    docids = [c.docid for c in candidates]
    if len(set(docids)) != len(docids):
        duplicate = next(d for d in docids if docids.count(d) > 1)
        raise error(f"duplicate candidate docid {duplicate!r}")
    for key in ("label", "rank", "score"):
        present = [getattr(c, key) is not None for c in candidates]
        if any(present) and not all(present):
            raise error(f"'{key}' is given for some candidates but not all")
    first = candidates[0]
    if first.label is None and first.rank is None:
        raise error("candidates need a 'label' or a teacher 'rank'")
    if first.rank is not None and len({c.rank for c in candidates}) != len(candidates):
        raise error("teacher ranks must be distinct")
    if first.rank is None and len({c.label for c in candidates}) < 2:
        raise error("all candidates have the same label and no teacher rank: no pair to rank")


def _positives(raw: object, candidates: tuple[TrainPassage, ...], error: ErrorAt) -> tuple[str, ...]:
    docids = {c.docid for c in candidates}
    if raw is None:
        positives = tuple(c.docid for c in candidates if (c.label or 0) > 0)
        if not positives:
            raise error("no 'positives' given and no candidate has label > 0")
        return positives
    if not isinstance(raw, list) or not raw:
        raise error("'positives' must be a non-empty list of docids")
    positives = tuple(_id(p, "positive", error) for p in raw)
    missing = [p for p in positives if p not in docids]
    if missing:
        raise error(f"positive {missing[0]!r} is not among the candidates")
    return positives


def _text(value: object, what: str, error: ErrorAt) -> str:
    """A non-empty text a tokenizer reads (:func:`..formats.ids.check_text`: a lone surrogate fails here, not in the tokenizer)."""
    if not isinstance(value, str) or is_blank(value):
        raise error(f"{what} must be a non-empty string")
    try:
        return check_text(value, what)
    except ValueError as exc:
        raise error(str(exc)) from None


def _id(value: object, what: str, error: ErrorAt) -> str:
    """An id by the rule every reader follows (:func:`..formats.ids.check_id`: an integer becomes its decimal string)."""
    try:
        return check_id(value, what)
    except ValueError as exc:
        raise error(str(exc)) from None
