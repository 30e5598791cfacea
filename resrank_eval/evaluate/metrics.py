"""Scoring with ir_measures' measure objects, computed by its pytrec_eval provider, under trec_eval ``-c`` semantics.

A measure is written as ir_measures writes it -- ``nDCG@10``, ``AP(rel=2)@1000``, ``R(rel=2)@100``,
``P@10``, ``RR@10`` -- and that name says exactly what is computed: one spelling per measure (no
aliases such as ``MAP``), and a cutoff wherever the measure takes one, since the run's depth changes
the score (RR aside: trec_eval's ``recip_rank`` reads the whole run, and ``RR@k`` reads it cut at k).
The mean is over every judged query (a judged query missing from the run scores 0); run queries
without judgments are ignored, and both cases are reported as warnings because they usually mean a
wrong topic set or a truncated run (a run sharing no query with the qrels is an error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean

import ir_measures
from ir_measures import Measure
from ir_measures.measures import MeanAgg

from ..errors import ResrankError
from ..types import Qrels, Run

EXAMPLES = "nDCG@10, AP(rel=2)@1000, R@100, P@10, RR@10"


def parse_measure(name: str | Measure) -> Measure:
    """The ir_measures measure a name (or a measure) stands for, checked to be one pytrec_eval computes."""
    text = str(name).strip()
    try:
        measure = ir_measures.parse_measure(text)
    except (NameError, ValueError, SyntaxError, AssertionError):
        raise ResrankError(f"unknown measure {text!r}; use e.g. {EXAMPLES}") from None
    if str(measure) != text:
        raise ResrankError(f"unknown measure {text!r}; ir_measures writes it {measure}")
    for param in ("cutoff", "rel"):  # pytrec_eval aborts the process on P@0 and raises on 1.5 or rel=0
        value = measure.params.get(param, 1)
        if type(value) is not int or value < 1:
            raise ResrankError(f"measure {text!r}: {param} must be an integer >= 1, got {value}")
    if "cutoff" in measure.SUPPORTED_PARAMS and "cutoff" not in measure.params and measure.NAME != "RR":
        raise ResrankError(f"measure {text!r} needs a cutoff, e.g. {text}@10")
    try:
        measure.validate_params()  # ir_measures checks a parameter's type (SetF's beta is a float) only here
    except AssertionError as exc:
        raise ResrankError(f"measure {text!r}: {exc}") from None
    if not ir_measures.pytrec_eval.supports(_computed(measure)[0]):
        raise ResrankError(f"measure {text!r} is not one pytrec_eval computes; use e.g. {EXAMPLES}")
    if not isinstance(measure.aggregator(), MeanAgg):  # NumQ, NumRet, NumRel: -c counts a missing query's NumQ and NumRel
        raise ResrankError(f"measure {text!r} is a count, which trec_eval totals over the queries rather than averaging; "
                           f"use e.g. {EXAMPLES}")
    return measure


def _computed(measure: Measure) -> tuple[Measure, int | None]:
    """What pytrec_eval computes, and at which depth the run is cut: ``RR@k`` is RR of the run cut at k."""
    if measure.NAME == "RR" and "cutoff" in measure.params:
        return type(measure)(**{k: v for k, v in measure.params.items() if k != "cutoff"}), measure["cutoff"]
    return measure, None


@dataclass
class Evaluation:
    """Per-query and mean scores of one run against one qrels, keyed by measure name."""

    measures: list[str]
    per_query: dict[str, dict[str, float]]
    warnings: list[str] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        return {m: fmean(q[m] for q in self.per_query.values()) for m in self.measures}


def _to_pytrec(run: Run, cutoff: int | None) -> dict[str, dict[str, float]]:
    """Each hit scored ``n - rank`` (exact in float32 up to 16 million hits), so pytrec_eval ranks exactly as the list
    does: the given scores may tie, be NaN or infinite, or differ by less than float32 resolves, and no measure reads
    their values. A query without hits is left out, as trec_eval -c scores it (given its empty ranking, pytrec_eval's
    IPrec@0.0 is NaN)."""
    out = {}
    for qid, candidates in run.items():
        kept = candidates[:cutoff] if cutoff else candidates
        if kept:
            out[qid] = {c.docid: float(len(kept) - i) for i, c in enumerate(kept)}
    return out


def evaluate(run: Run, qrels: Qrels, measures: Sequence[str | Measure], name: str = "the run") -> Evaluation:
    """Score ``run`` (candidates in rank order) with trec_eval -c semantics; ``name`` (its file) is what the warnings call it.

    A run with hits for no judged query is an error: the wrong dataset or qrels, not a score of 0. So are empty qrels and
    a docid ranked twice in a query (pytrec_eval would keep one of its ranks), which a run file read by ``read_run`` never has.
    """
    if isinstance(measures, str):
        raise ResrankError(f"measures must be a list of measure names, got str {measures!r}")
    parsed = {str(m).strip(): parse_measure(m) for m in measures}
    if not qrels:
        raise ResrankError("no judged queries: the qrels are empty")
    for qid, candidates in run.items():
        if len({c.docid for c in candidates}) != len(candidates):
            twice = next(d for d, n in Counter(c.docid for c in candidates).items() if n > 1)
            raise ResrankError(f"{name}: query {qid!r} ranks docid {twice!r} twice")
    warnings = _coverage_warnings(run, qrels, name)
    per_query = {qid: dict.fromkeys(parsed, 0.0) for qid in qrels}
    by_depth: dict[int | None, dict[Measure, list[str]]] = {}
    for label, measure in parsed.items():
        computed, depth = _computed(measure)
        by_depth.setdefault(depth, {}).setdefault(computed, []).append(label)
    for depth, wanted in by_depth.items():
        for metric in ir_measures.pytrec_eval.evaluator(list(wanted), qrels).iter_calc(_to_pytrec(run, depth)):
            for label in wanted[metric.measure]:
                per_query[metric.query_id][label] = float(metric.value)
    return Evaluation(list(parsed), per_query, warnings + _level_warnings(parsed, qrels))


def _coverage_warnings(run: Run, qrels: Qrels, name: str) -> list[str]:
    warnings = []
    unjudged = sorted(set(run) - set(qrels))
    missing = sorted(q for q in qrels if not run.get(q))
    if qrels and len(missing) == len(qrels):
        example = f", e.g. {unjudged[0]}" if unjudged else ""
        raise ResrankError(f"{name} shares no query with the qrels ({len(run)} run queries{example}; {len(qrels)} judged, "
                           f"e.g. {missing[0]}): wrong dataset or qrels?")
    if unjudged:
        warnings.append(f"{name}: {len(unjudged)} of its {len(run)} queries have no judgments and are ignored (e.g. {unjudged[0]})")
    if missing:
        warnings.append(f"{name} covers {len(qrels) - len(missing)} of {len(qrels)} judged queries; the other {len(missing)} score 0 "
                        f"(e.g. {missing[0]})")
    return warnings


def _level_warnings(measures: dict[str, Measure], qrels: Qrels) -> list[str]:
    """A relevance level above every grade (``R(rel=5)@100`` on grades 0-3) judges nothing relevant: all zeros, silently."""
    top = max((grade for judged in qrels.values() for grade in judged.values()), default=0)
    return [f"{name} counts grade {m['rel']} and above as relevant, but the qrels' highest grade is {top}: it is 0 for every query"
            for name, m in measures.items() if "rel" in m.SUPPORTED_PARAMS and m["rel"] > top]
