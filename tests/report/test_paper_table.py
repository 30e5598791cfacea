"""The paper's table (systems x datasets + the named BEIR average), the efficiency block, the HTML page and the plot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from resrank_eval.formats.trec import read_run
from resrank_eval.report import SystemRun, build_report
from resrank_eval.report.plot import duration
from resrank_eval.report.tables import paper_table
from resrank_eval.rerank.pipeline import summarize
from resrank_eval.types import QueryStats
from tests.helpers import REPO

RUNS = REPO / "runs"


def _runs() -> list[SystemRun]:
    nfcorpus = read_run(RUNS / "nfcorpus" / "run.beir-nfcorpus.bm25-flat.test.txt.gz")
    dl19 = read_run(RUNS / "dl19" / "run.dl19.bm25.txt")
    stats = [QueryStats(q, "resrank", 100, encoder_tokens=10, reranker_input_tokens=150, forward_passes=1, encode_ms=30.0,
                        rerank_ms=10.0, total_ms=40.0 + i, flops={"encoder": 2e9, "prefill": 3e9, "decode": 0}) for i, q in enumerate(dl19)]
    efficiency = replace(summarize(stats), environment={"device": "cpu", "device_name": "Test CPU", "threads": 2, "torch": "2.x"})
    return [SystemRun(None, "bm25", "beir/nfcorpus", nfcorpus), SystemRun(None, "bm25", "dl19", dl19),
            SystemRun(None, "same", "dl19", dl19, efficiency)]


def test_columns_are_the_datasets_present_and_the_named_beir_average() -> None:
    report = replace(build_report(_runs(), "bm25", n_resamples=200), layout="paper", rows=["bm25", "same"],
                     columns=["beir/nfcorpus", "dl19"], labels={"bm25": "BM25"})
    table = report.tables()[0]
    assert table.columns == ["System", "NFCorpus", "DL19", "BEIR avg (NFCorpus)"]
    assert table.rows[0] == ["BM25", "0.3218", "0.5058", "0.3218"]
    assert table.rows[1] == ["same", "–", "0.5058", "–"]  # no NFCorpus run: no BEIR average either
    assert table.caption.startswith("nDCG@10 across datasets. ↑/↓ significantly better/worse than BM25 by")  # the label
    recall = paper_table(replace(report, measure="R(rel=2)@100", rows=["bm25"], columns=["dl19"]))
    assert recall.columns == ["System", "DL19"] and recall.rows[0][1] == "0.4910"


def test_efficiency_block_and_context() -> None:
    report = replace(build_report(_runs(), "bm25", n_resamples=200), layout="paper", title="T")
    _, efficiency = report.tables()
    (row,) = efficiency.rows
    cells = dict(zip(efficiency.columns, row))
    assert cells["System"] == "same" and cells["Dataset"] == "DL19" and cells["rerank p50 ms"] == "10.0"
    assert cells["GFLOPs/q"] == "5.00" and cells["q/PFLOP"] == "200,000" and cells["passes/q"] == "1"
    assert report.measured_on() == ["Test CPU (cpu, threads: 2); Python None, torch 2.x, transformers None, pyserini None, "
                                    "resrank-eval None, commit unknown"]
    markdown = report.to_markdown()
    assert markdown.startswith("# T\n\n**nDCG@10 across datasets.") and "**Efficiency per query" in markdown
    assert markdown.endswith("Measured on Test CPU (cpu, threads: 2); Python None, torch 2.x, transformers None, pyserini None, "
                             "resrank-eval None, commit unknown\n")


def test_saved_files_and_a_self_contained_html_and_plot_ticks_read_as_durations(tmp_path: Path) -> None:
    report = replace(build_report(_runs(), "bm25", n_resamples=200), layout="paper")
    names = ["table.md", "table.tex", "table.csv", "tradeoff.png", "tradeoff.pdf", "index.html"]
    assert report.save(tmp_path, "table") == [tmp_path / name for name in names]
    assert (tmp_path / "table.md").read_text() == report.to_markdown() and (tmp_path / "table.csv").read_text() == report.to_csv()
    text = (tmp_path / "index.html").read_text()
    assert "data:image/png;base64," in text and "<script" not in text and "http" not in text
    assert "<h2>nDCG@10 by system and dataset</h2>" in text and "<h2>Efficiency</h2>" in text
    assert [duration(v) for v in (0.1, 1, 10, 100, 1000, 10_000, 100_000, 600_000)] == \
        ["0.1 ms", "1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s", "10 min"]


def test_a_dataset_without_the_baseline_run_says_it_was_not_tested() -> None:
    """``--baseline bm25`` over DL19 and NFCorpus runs where only DL19 has ``bm25``: NFCorpus's cells carry no markers, and
    its captions must not say they were tested against bm25 (unmarked would read as not significant)."""
    nfcorpus = read_run(RUNS / "nfcorpus" / "run.beir-nfcorpus.bm25-flat.test.txt.gz")
    dl19 = read_run(RUNS / "dl19" / "run.dl19.bm25.txt")
    runs = [SystemRun(None, "bm25", "dl19", dl19), SystemRun(None, "other", "dl19", dl19), SystemRun(None, "bm25-flat", "beir/nfcorpus", nfcorpus),
            SystemRun(None, "other", "beir/nfcorpus", nfcorpus)]
    report = build_report(runs, "bm25", n_resamples=200)
    dl19_table, nfcorpus_table, across = report.tables()
    assert dl19_table.caption.startswith("dl19: ↑/↓ significantly better/worse than bm25 by")
    assert nfcorpus_table.caption == "beir/nfcorpus: no significance tests (no bm25 run)"
    assert across.caption.endswith(", Holm-corrected over 1 comparison; NFCorpus not tested (no bm25 run).")
