"""A first stage with tied scores evaluates exactly as Pyserini's own run of the same index.

Pyserini writes hits in Lucene's order (ties: index order) and trec_eval scores ties by docid,
descending. The corpus below has groups of identical documents indexed in ascending docid order, and
qrels that judge the group's first-indexed document relevant, so the two orders disagree at rank 1.
Pyserini's own CLI (``python -m pyserini.search.lucene``) searches the index resrank-eval built, and
both runs are scored by pytrec_eval, per query.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from resrank_eval.cli import main
from resrank_eval.datasets import get_dataset
from resrank_eval.evaluate import evaluate
from resrank_eval.formats.trec import read_run
from resrank_eval.jvm import pyserini_module
from resrank_eval.retrieve.bm25 import bm25_index


def words(prefix: str, count: int = 300) -> str:
    return " ".join(f"{prefix}{i}" for i in range(count))


# Identical documents tie exactly. Anserini nudges tied scores apart by 1e-6 each, in docid order, but
# a long query (ArguAna's average 194 words) scores in the hundreds, where a float32 step is ~1e-5:
# the nudges vanish and Pyserini's run file holds true ties, which trec_eval breaks by docid, descending.
GROUPS = {"a1": words("alpha"), "b2": words("alpha"), "c3": words("alpha"), "d4": words("beta"), "e5": words("beta"),
          "f6": "filler text about trains", "g7": "more filler about boats"}
QUERIES = {"q1": words("alpha"), "q2": words("beta"), "q3": f"{words('alpha', 150)} {words('beta', 150)}", "q4": "filler trains"}
RELEVANT = {"q1": "a1", "q2": "d4", "q3": "a1", "q4": "f6"}


@pytest.fixture(scope="module")
def tied_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("beir-ties")
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in GROUPS.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in RELEVANT.items()))
    return folder


def pyserini_run(index: Path, topics: Path, output: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pyserini's own search CLI, in this process (the JVM is already up), as Pyserini's 2CR runs BEIR."""
    pyserini_module("pyserini.search.lucene")
    argv = ["pyserini.search.lucene", "--index", str(index), "--topics", str(topics), "--output", str(output),
            "--hits", "10", "--bm25", "--k1", "0.9", "--b", "0.4", "--remove-query"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_module("pyserini.search.lucene", run_name="__main__", alter_sys=True)
    return output


def test_tied_bm25_scores_evaluate_as_pyserini_does(tied_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = tmp_path / "ours.txt"
    result = CliRunner().invoke(main, ["retrieve", "--dataset", "ties", "--corpus", str(tied_corpus), "--hits", "10",
                                       "--threads", "1", "--output", str(ours)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    topics = tmp_path / "topics.beir-ties.tsv"  # "beir" in the name: Pyserini reads it with its string-qid TSV reader
    topics.write_text("".join(f"{q}\t{t}\n" for q, t in QUERIES.items()))
    theirs = pyserini_run(bm25_index(tied_corpus), topics, tmp_path / "theirs.txt", monkeypatch)

    pyserini_lines = [line.split() for line in theirs.read_text().splitlines()]
    assert any(a[4] == b[4] and a[0] == b[0] for a, b in zip(pyserini_lines, pyserini_lines[1:])), "the corpus must produce ties"
    assert pyserini_lines[0][2] == "a1", "Pyserini lists a tie group in index order"

    qrels = get_dataset("ties", tied_corpus).qrels()
    measures = ["nDCG@10", "nDCG@1", "R@10"]
    mine, reference = evaluate(read_run(ours), qrels, measures), evaluate(read_run(theirs), qrels, measures)
    assert mine.per_query == reference.per_query
    assert reference.per_query["q1"]["nDCG@1"] == 0.0, "trec_eval ranks the tie group by docid, descending"
    assert [line.split()[2] for line in ours.read_text().splitlines()[:3]] == ["c3", "b2", "a1"]
    scores = [float(line.split()[4]) for line in ours.read_text().splitlines() if line.startswith("q1 ")]
    assert all(a > b for a, b in zip(scores, scores[1:])), "written strictly decreasing: every tool reads this one order"
