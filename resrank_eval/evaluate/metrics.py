"""pytrec_eval scoring with trec_eval ``-c`` semantics and ir_measures-style names.

A measure's printed name says exactly what is computed: ``nDCG@10``, ``AP(rel=2)@1000``,
``R(rel=2)@100``, ``P@10``, ``RR@10``. The mean is over every judged query (a judged query missing
from the run scores 0); run queries without judgments are ignored, and both cases are reported as
warnings because they usually mean a wrong topic set or a truncated run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from statistics import fmean

from ..errors import ResrankError
from ..numeric import strictly_decreasing
from ..types import Qrels, Run

_MEASURE = re.compile(r"^(?P<kind>nDCG|AP|R|P|RR)(?:\(rel=(?P<rel>\d+)\))?(?:@(?P<k>\d+))?$")
# kind -> (pytrec_eval family, whether the cutoff is part of the trec name, whether a cutoff is required)
_FAMILIES = {"nDCG": "ndcg_cut", "AP": "map_cut", "R": "recall", "P": "P", "RR": "recip_rank"}


@dataclass(frozen=True)
class Measure:
    """A parsed measure: pytrec_eval name, relevance level for binary judgments, run cutoff."""

    name: str
    trec_name: str
    rel_level: int
    cutoff: int | None

    @property
    def key(self) -> str:
        """The key pytrec_eval uses for this measure in its per-query output."""
        return self.trec_name.replace(".", "_")


def parse_measure(name: str) -> Measure:
    """Parse an ir_measures-style name into what pytrec_eval must compute."""
    match = _MEASURE.match(name.strip())
    if not match:
        raise ResrankError(f"unknown measure {name!r}; use e.g. nDCG@10, AP(rel=2)@1000, R@100, P@10, RR@10")
    kind, rel, k = match["kind"], int(match["rel"] or 1), match["k"]
    if kind == "RR":
        # recip_rank has no cutoff in trec_eval: truncate the run instead.
        return Measure(name.strip(), "recip_rank", rel, int(k) if k else None)
    if k is None:
        raise ResrankError(f"measure {name!r} needs a cutoff, e.g. {kind}@10")
    return Measure(name.strip(), f"{_FAMILIES[kind]}.{k}", rel, None)


@dataclass
class Evaluation:
    """Per-query and mean scores of one run against one qrels."""

    measures: list[str]
    per_query: dict[str, dict[str, float]]
    warnings: list[str] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        return {m: fmean(q[m] for q in self.per_query.values()) for m in self.measures}


def _to_pytrec(run: Run, cutoff: int | None) -> dict[str, dict[str, float]]:
    """Scores made strictly decreasing in list order, so pytrec_eval ranks exactly as the list does."""
    out = {}
    for qid, candidates in run.items():
        kept = candidates[:cutoff] if cutoff else candidates
        scores = strictly_decreasing([c.score for c in kept])
        out[qid] = {c.docid: s for c, s in zip(kept, scores)}
    return out


def evaluate(run: Run, qrels: Qrels, measures: list[str] | tuple[str, ...]) -> Evaluation:
    """Score ``run`` (candidates in rank order) with trec_eval -c semantics."""
    import pytrec_eval

    parsed = [parse_measure(m) for m in measures]
    per_query: dict[str, dict[str, float]] = {qid: {} for qid in qrels}
    groups: dict[tuple[int, int | None], list[Measure]] = {}
    for m in parsed:
        groups.setdefault((m.rel_level, m.cutoff), []).append(m)
    for (rel_level, cutoff), group in groups.items():
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {m.trec_name for m in group}, relevance_level=rel_level)
        results = evaluator.evaluate(_to_pytrec(run, cutoff))
        for qid in qrels:
            scores = results.get(qid, {})
            for m in group:
                per_query[qid][m.name] = float(scores.get(m.key, 0.0))
    return Evaluation([m.name for m in parsed], per_query, _coverage_warnings(run, qrels))


def _coverage_warnings(run: Run, qrels: Qrels) -> list[str]:
    warnings = []
    unjudged = sorted(set(run) - set(qrels))
    if unjudged:
        warnings.append(f"{len(unjudged)} run queries have no judgments and are ignored (e.g. {unjudged[0]})")
    missing = sorted(q for q in qrels if not run.get(q))
    if missing:
        warnings.append(f"{len(missing)} judged queries have no hits in the run and score 0 (e.g. {missing[0]})")
    return warnings
