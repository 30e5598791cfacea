"""pytrec_eval scoring: trec_eval -c semantics, relevance levels, ties, measure names."""

from __future__ import annotations

import math

import pytest

from resrank_eval.errors import ResrankError
from resrank_eval.evaluate import evaluate, parse_measure
from resrank_eval.types import Candidate

QRELS = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"x": 1}}


def run_of(**queries: list[str]) -> dict[str, list[Candidate]]:
    return {qid: [Candidate(d, float(len(docs) - i)) for i, d in enumerate(docs)] for qid, docs in queries.items()}


def test_missing_judged_query_counts_zero_and_unjudged_is_ignored() -> None:
    ev = evaluate(run_of(q1=["a", "b"], q9=["z"]), QRELS, ["P@1"])
    assert ev.per_query["q2"]["P@1"] == 0.0
    assert ev.mean["P@1"] == pytest.approx(0.5)
    assert any("no judgments" in w for w in ev.warnings) and any("no hits" in w for w in ev.warnings)


def test_relevance_level_applies_to_binary_measures() -> None:
    ev = evaluate(run_of(q1=["b", "a"], q2=["x"]), QRELS, ["P@1", "P(rel=2)@1", "R(rel=2)@100"])
    assert ev.per_query["q1"]["P@1"] == 1.0
    assert ev.per_query["q1"]["P(rel=2)@1"] == 0.0
    assert ev.per_query["q1"]["R(rel=2)@100"] == 1.0


def test_ndcg_against_hand_computation() -> None:
    ev = evaluate(run_of(q1=["b", "a", "c"]), {"q1": QRELS["q1"]}, ["nDCG@10"])
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ev.mean["nDCG@10"] == pytest.approx(dcg / ideal)


def test_list_order_wins_over_tied_scores() -> None:
    """Tied scores would let trec_eval reorder by docid; we score the list order we wrote."""
    run = {"q1": [Candidate("a", 1.0), Candidate("b", 1.0)]}
    assert evaluate(run, {"q1": {"a": 1}}, ["P@1"]).mean["P@1"] == 1.0


def test_rr_with_cutoff_truncates() -> None:
    ev = evaluate(run_of(q1=["c", "c2", "b"]), {"q1": QRELS["q1"]}, ["RR@2", "RR"])
    assert ev.mean["RR@2"] == 0.0 and ev.mean["RR"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("name", ["MAP", "nDCG", "R@x", "foo@10"])
def test_unknown_measures(name: str) -> None:
    with pytest.raises(ResrankError):
        parse_measure(name)
