"""Report tables on small real runs (real pytrec_eval), significance against scipy, plot and CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from resrank_eval.cli import main
from resrank_eval.datasets.registry import BEIR_NAMES, get_dataset
from resrank_eval.evaluate.metrics import evaluate
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.trec import write_run
from resrank_eval.report import build_report, expand_paths, load_run_file
from resrank_eval.report.runs import file_system_name, infer_dataset, read_efficiency
from resrank_eval.report.significance import compare
from resrank_eval.report.tables import paper_table
from resrank_eval.rerank.pipeline import EfficiencySummary, summarize
from resrank_eval.types import Candidate, QueryStats, Run
from tests.helpers import CRANFIELD_BEIR, DL19_CANDIDATES, REPO

SUMMARY_KEYS = ["reranker", "queries", "device", "dtype", "batch_size", "latency_ms_p50", "latency_ms_p95", "latency_ms_mean", "encode_ms_mean",
                "rerank_ms_mean", "rerank_ms_p50", "rerank_ms_p95", "queries_per_s", "candidates_per_query", "encoder_tokens_per_query",
                "reranker_input_tokens_per_query", "generated_tokens_per_query", "forward_passes_per_query", "flops_per_query",
                "queries_per_pflop", "encoder_flops_per_query", "prefill_flops_per_query", "decode_flops_per_query"]
"""The summary file's keys, in order: what runs already on disk hold (older ones a prefix of them) and readers expect."""


def oracle(run: Run, qrels: dict[str, dict[str, int]]) -> Run:
    """Each query's candidates sorted by their judged label: a much better reranker than BM25."""
    return {q: sorted(cands, key=lambda c: -qrels.get(q, {}).get(c.docid, 0)) for q, cands in run.items()}


def write_with_stats(path: Path, run: Run, tag: str, ms_per_query: float, generated: int) -> None:
    write_run(path, run, tag)
    lines = [
        json.dumps(QueryStats(q, tag, len(c), reranker_input_tokens=2000, generated_tokens=generated,
                              total_ms=ms_per_query * (1 + i % 3), device="cpu").to_dict())
        for i, (q, c) in enumerate(run.items())
    ]
    path.with_name(path.name + ".stats.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def dl19_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    bm25 = read_candidates(DL19_CANDIDATES).run
    qrels = get_dataset("dl19").qrels()
    write_run(folder / "run.dl19.bm25.txt", bm25, "bm25")
    write_with_stats(folder / "run.dl19.oracle.txt", oracle(bm25, qrels), "oracle", 5.0, 0)
    write_with_stats(folder / "run.dl19.rankgpt.txt", bm25, "rankgpt", 50_000.0, 700)
    (folder / "README.md").write_text("not a run")
    return folder


def test_dataset_table_scores_and_efficiency(dl19_runs: Path) -> None:
    runs = [load_run_file(p) for p in expand_paths([dl19_runs])]
    assert [r.label for r in runs] == ["bm25", "oracle", "rankgpt"]
    report = build_report(runs, baseline="bm25", n_resamples=2000)
    (table,) = report.tables()  # one dataset: its table alone (a cross-dataset table would repeat one of its columns)
    assert table.columns[:5] == ["System", "nDCG@10", "AP(rel=2)@1000", "R(rel=2)@100", "R(rel=2)@1000"]
    bm25, oracle_row, rankgpt = table.rows
    assert bm25[1] == "0.5058"  # the published BM25 DL19 nDCG@10 (RankGPT paper)
    assert bm25[5:] == ["–"] * 6  # a first-stage run has no stats
    assert oracle_row[1].endswith("†‡") and float(oracle_row[1][:6]) > 0.85
    assert rankgpt[1] == "0.5058"  # same order as the baseline: no marker
    assert rankgpt[5:] == ["100,000", "150,000", "0.010", "2,000", "700", "cpu"]


def test_significance_matches_scipy(dl19_runs: Path) -> None:
    runs = [load_run_file(dl19_runs / name) for name in ("run.dl19.bm25.txt", "run.dl19.oracle.txt")]
    report = build_report(runs, baseline=dl19_runs / "run.dl19.bm25.txt", n_resamples=2000)
    assert report.baseline == "bm25"
    qrels = get_dataset("dl19").qrels()
    base = evaluate(runs[0].run, qrels, ["nDCG@10"]).per_query
    system = evaluate(runs[1].run, qrels, ["nDCG@10"]).per_query
    qids = sorted(base)
    x, y = np.array([system[q]["nDCG@10"] for q in qids]), np.array([base[q]["nDCG@10"] for q in qids])
    got = report.for_dataset("dl19")[1].significance["nDCG@10"]
    assert got.p_ttest == pytest.approx(stats.ttest_rel(x, y).pvalue)
    assert got.delta == pytest.approx(np.mean(x - y))
    expected = stats.permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples",
                                      vectorized=True, n_resamples=2000, rng=np.random.default_rng(0)).pvalue
    assert got.p_randomization == pytest.approx(expected)


def test_randomization_is_exact_on_small_samples() -> None:
    """With 4 queries scipy enumerates all 16 sign flips: only the observed and its mirror are as extreme."""
    result = compare([0.5, 0.6, 0.7, 0.8], [0.1, 0.2, 0.3, 0.35])
    assert result.p_randomization == pytest.approx(2 / 16)
    assert compare([0.1, 0.2], [0.1, 0.2]).p_ttest == 1.0


def test_latex_and_csv(dl19_runs: Path) -> None:
    runs = [load_run_file(p) for p in expand_paths([dl19_runs])]
    report = build_report(runs, baseline="bm25", n_resamples=500)
    latex = report.to_latex()
    assert "\\toprule" in latex and "\\bottomrule" in latex and "\\textsuperscript{\\dag}" in latex
    assert "AP(rel=2)@1000" in latex and "p50 ms" in latex
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["system"] for r in rows] == ["bm25", "oracle", "rankgpt"]
    assert rows[0]["nDCG@10 p_ttest"] == ""
    assert float(rows[1]["nDCG@10 p_ttest"]) < 1e-6
    assert float(rows[2]["nDCG@10 p_randomization"]) == 1.0
    assert float(rows[2]["generated_tokens_per_query"]) == 700


def test_cross_table_averages_all_eight_beir_sets(tmp_path: Path) -> None:
    """One tiny run per BEIR set (each set's first 3 judged queries): the BEIR column is their mean."""
    runs = []
    for name in BEIR_NAMES:
        qrels = get_dataset(f"beir/{name}").qrels()
        run = {q: [Candidate(d, float(-i)) for i, d in enumerate(sorted(qrels[q]))] for q in sorted(qrels)[:3]}
        path = tmp_path / f"run.beir-v1.0.0-{name}.flat.txt"
        write_run(path, run, "bm25")
        assert infer_dataset(path) == f"beir/{name}"
        runs.append(load_run_file(path))
    report = build_report(runs)
    table = paper_table(report)
    assert table.columns[0] == "System" and table.columns[-1] == "BEIR avg"
    assert table.columns[1:-1] == ["Covid", "NFCorpus", "Touche", "DBPedia", "SciFact", "Signal", "News", "Robust04"]  # no DL runs: no DL columns
    (row,) = table.rows
    means = [r.mean["nDCG@10"] for r in report.results]
    assert row[-1] == f"{np.mean(means):.4f}"


def test_a_report_written_into_its_runs_folder_is_not_read_as_a_run(dl19_runs: Path, tmp_path: Path) -> None:
    """``report DIR --output DIR`` worked once; the second time its own index.html was read as a run (exit 2)."""
    folder = tmp_path / "runs"
    shutil.copytree(dl19_runs, folder)
    made = []
    for _ in range(2):
        result = CliRunner().invoke(main, ["report", str(folder), "--resamples", "200", "--output", str(folder)])
        assert result.exit_code == 0, result.output
        made.append((folder / "report.md").read_text())
    assert made[0] == made[1]


def test_write_report_and_cli(dl19_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(dl19_runs), "--baseline", "bm25", "--resamples", "200", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "| oracle  " in result.output and "**dl19: ↑/↓ significantly better/worse than bm25" in result.output
    assert (out / "report.md").read_text() == result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "report.csv", "report.md", "report.tex", "tradeoff.pdf", "tradeoff.png"]
    assert "<h2>dl19</h2>" in (out / "index.html").read_text()
    assert (out / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "tradeoff.pdf").read_bytes()[:4] == b"%PDF"


def test_report_errors_are_one_line(dl19_runs: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(dl19_runs), "--baseline", "nosuch"])
    assert result.exit_code == 2 and "baseline 'nosuch'" in result.output
    unnamed = tmp_path / "mystery.txt"
    unnamed.write_text("1 Q0 d 1 1.0 x\n")
    result = CliRunner().invoke(main, ["report", str(unnamed)])
    assert result.exit_code == 2 and "pass --dataset" in result.output


@pytest.mark.parametrize(("edit", "error"), [
    (lambda r: {**r, "total_ms": "abc"}, ":1: total_ms: expected a number, got 'abc'"),
    (lambda r: {**r, "encode_ms": float("nan")}, ":1: encode_ms: expected a finite number, got nan"),
    (lambda r: {**r, "rerank_ms": -5}, ":1: rerank_ms: expected >= 0, got -5.0"),
    (lambda r: {**r, "candidates": None}, ":1: candidates: expected an integer, got None"),
    (lambda r: {**r, "qid": 7}, ":1: qid: expected a string, got 7"),
    (lambda r: {**r, "flops": [1]}, r":1: flops: expected a mapping, got \[1\]"),
    (lambda r: {k: v for k, v in r.items() if k != "candidates"}, ":1: missing key 'candidates'"),
])
def test_a_stats_record_summaries_cannot_count_is_one_line(dl19_runs: Path, tmp_path: Path, edit: object, error: str) -> None:
    """A latency that is no number (or NaN, or negative), a count that is no integer: named with file and line, never an
    internal error or a NaN or negative latency in the table."""
    run = tmp_path / "run.dl19.oracle.txt"
    run.write_bytes((dl19_runs / run.name).read_bytes())
    lines = (dl19_runs / f"{run.name}.stats.jsonl").read_text().splitlines()
    Path(f"{run}.stats.jsonl").write_text("\n".join([json.dumps(edit(json.loads(lines[0]))), *lines[1:]]) + "\n")  # type: ignore[operator]
    result = CliRunner().invoke(main, ["report", str(run), "--resamples", "200"])
    assert result.exit_code == 2, result.output
    assert re.fullmatch(f"Error: {re.escape(str(run))}.stats.jsonl{error}\n", result.stderr), result.stderr


def test_stats_that_are_not_the_runs_queries_are_refused(dl19_runs: Path, tmp_path: Path) -> None:
    """A stats file for part of the run, or with a query twice, would summarise other queries than the run's."""
    run = tmp_path / "run.dl19.oracle.txt"
    run.write_bytes((dl19_runs / run.name).read_bytes())
    lines = (dl19_runs / f"{run.name}.stats.jsonl").read_text().splitlines()
    stats = Path(f"{run}.stats.jsonl")
    for kept, error in ((lines[:10], f"{stats}: has the costs of 10 queries, the run 43 (e.g. {json.loads(lines[10])['qid']} missing)"),
                        ([*lines, lines[0]], f"{stats}:44: query {json.loads(lines[0])['qid']!r} again (first at line 1)")):
        stats.write_text("\n".join(kept) + "\n")
        result = CliRunner().invoke(main, ["report", str(run), "--resamples", "200"])
        assert (result.exit_code, result.stderr) == (2, f"Error: {error}\n")


@pytest.mark.parametrize(("edit", "error"), [
    ({"latency_ms_p50": "x"}, "latency_ms_p50: expected a number, got 'x'"),
    ({"latency_ms_p50": -3}, "latency_ms_p50: expected >= 0, got -3.0"),
    ({"queries_per_s": float("inf")}, "queries_per_s: expected a finite number, got inf"),
    ({"batch_size": 1.5}, "batch_size: expected an integer, got 1.5"),
    ({"queries": 10}, "summarises 10 queries, the run has 43"),
])
def test_a_summary_the_table_cannot_show_is_one_line(tmp_path: Path, edit: dict, error: str) -> None:
    """Read alone (no stats file), a summary with a latency that is no number, or of another number of queries, is refused."""
    run = REPO / "runs" / "dl19" / "run.dl19.minilm.txt"
    (tmp_path / run.name).write_bytes(run.read_bytes())
    summary = tmp_path / f"{run.name}.summary.json"
    summary.write_text(json.dumps({**json.loads((run.parent / summary.name).read_text()), **edit}))
    result = CliRunner().invoke(main, ["report", str(tmp_path / run.name), "--resamples", "200"])
    assert (result.exit_code, result.stderr) == (2, f"Error: {summary}: {error}\n")


@pytest.mark.parametrize("command", [["report", "--resamples", "200"], ["evaluate", "--dataset", "dl19"]])
def test_a_run_changed_since_its_step_made_it_is_refused_and_a_run_without_record_is_read(tmp_path: Path, command: list[str]) -> None:
    """A run with its record beside it (``<run>.provenance.json``) is read as that step's output, so it must still be what the
    step made (a rerank's stats and summary too): two docids swapped in every query printed the reranker's row with other
    scores, beside its latency, with exit 0. The same bytes without a record (another tool's run) are scored as they are."""
    run = tmp_path / "run.dl19.identity.txt"
    made = CliRunner().invoke(main, ["rerank", "--dataset", "dl19", "--candidates", str(DL19_CANDIDATES), "--reranker", "identity",
                                     "--output", str(run)])
    assert made.exit_code == 0, made.output
    edited = []
    for lines in re.findall(r"((?:(\S+) .*\n)(?:\2 .*\n)*)", run.read_text()):
        rows = [line.split() for line in lines[0].splitlines()]
        rows[0][2], rows[-1][2] = rows[-1][2], rows[0][2]
        edited.extend(" ".join(row) + "\n" for row in rows)
    run.write_text("".join(edited))
    result = CliRunner().invoke(main, [*command, str(run)])
    assert result.exit_code == 2 and re.fullmatch(
        rf"Error: {re.escape(str(run))}: changed since it was made \(.*\); make it again, or delete "
        rf"{re.escape(run.name)}\.provenance\.json to read it as a file of your own\n", result.stderr), result.output
    assert result.stdout == ""
    (tmp_path / "theirs").mkdir()
    theirs = tmp_path / "theirs" / run.name
    theirs.write_bytes(run.read_bytes())
    assert CliRunner().invoke(main, [*command, str(theirs)]).exit_code == 0


def test_a_run_covering_part_of_the_judged_queries_is_reported_with_a_warning(dl19_runs: Path, tmp_path: Path) -> None:
    """The queries it misses score 0, so it is "significantly worse": the same warning as ``evaluate`` says why."""
    bm25 = read_candidates(DL19_CANDIDATES).run
    part = tmp_path / "run.dl19.part.txt"
    write_run(part, {q: bm25[q] for q in sorted(bm25)[:10]}, "part")
    result = CliRunner().invoke(main, ["report", str(dl19_runs / "run.dl19.bm25.txt"), str(part), "--baseline", "bm25", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Warning: {part} covers 10 of 43 judged queries; the other 33 score 0 (e.g. {sorted(bm25)[10]})\n"
    assert CliRunner().invoke(main, ["evaluate", "--dataset", "dl19", str(part)]).stderr == result.stderr


def test_a_pipe_in_a_run_tag_stays_in_its_markdown_cell(tmp_path: Path) -> None:
    """``a|b`` unescaped would split the label's cell and shift every number one column to the right."""
    run = tmp_path / "run.dl19.pipe.txt"
    write_run(run, read_candidates(DL19_CANDIDATES).run, "a|b")
    result = CliRunner().invoke(main, ["report", str(run), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in lines}) == 1 and lines[-1].startswith(r"| a\|b ")


def test_clashing_run_tags_take_the_file_names_system_part(tmp_path: Path) -> None:
    bm25 = read_candidates(DL19_CANDIDATES).run
    paths = [tmp_path / "run.dl19.resrank-mini.txt", tmp_path / "run.dl19.resrank-mini-frozen.txt", tmp_path / "other" / "run.dl19.resrank-mini.txt"]
    paths[2].parent.mkdir()
    for path in paths:
        write_run(path, bm25, "resrank")
    report = build_report([load_run_file(p) for p in paths])
    assert [r.label for r in report.results] == [str(paths[0]), "resrank-mini-frozen", str(paths[2])]
    assert file_system_name(Path("run.beir-v1.0.0-nfcorpus.bm25-flat.test.txt.gz"), "beir/nfcorpus") == "bm25-flat"


def test_report_scores_a_local_beir_dataset_with_corpus(tmp_path: Path) -> None:
    """A corpus outside the registry (Cranfield, shipped as BEIR) gets the same tables and tests as a registered one."""
    corpus = CRANFIELD_BEIR
    qrels = get_dataset("cranfield", str(corpus), "test").qrels()
    ranked = {q: [Candidate(d, float(-i)) for i, d in enumerate(sorted(judged) + ["no-such-doc"])] for q, judged in qrels.items()}
    write_run(tmp_path / "run.a.txt", ranked, "sorted")
    write_run(tmp_path / "run.b.txt", oracle(ranked, qrels), "oracle")
    args = ["report", str(tmp_path / "run.a.txt"), str(tmp_path / "run.b.txt"), "--baseline", "sorted", "--resamples", "200"]
    result = CliRunner().invoke(main, [*args, "--dataset", "cranfield", "--corpus", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "**cranfield:" in result.output and "| oracle" in result.output and "↑" in result.output
    result = CliRunner().invoke(main, [*args, "--corpus", str(corpus)])
    assert result.exit_code == 2 and "--corpus needs --dataset" in result.output


def test_the_summary_keeps_its_file_format_and_published_summaries_still_read(tmp_path: Path) -> None:
    stats = [QueryStats(q, "resrank", 100, total_ms=float(ms), rerank_ms=1.0) for q, ms in (("a", 10), ("b", 20), ("c", 40))]
    summary = summarize(stats)
    assert list(summary.to_dict()) == SUMMARY_KEYS and EfficiencySummary.from_dict(summary.to_dict()) == summary
    assert (summary.latency_ms_p50, summary.latency_ms_p95, summary.queries_per_s) == (20.0, pytest.approx(38.0), 3000 / 70)
    published = sorted(p for folder in ("dl19", "nfcorpus") for p in (REPO / "runs" / folder).rglob("*.summary.json"))  # not runs/demo
    assert len(published) == 12
    for path in published:  # written before the reranker-only percentiles and FLOPs were recorded
        saved = EfficiencySummary.from_dict(json.loads(path.read_text()))
        assert saved.queries > 0 and saved.rerank_ms_p50 is None and saved.flops_per_query is None
    run = REPO / "runs" / "dl19" / "run.dl19.minilm.txt"  # without its stats file, the summary alone is read
    for name in (run.name, run.name + ".summary.json"):
        (tmp_path / name).write_bytes((run.parent / name).read_bytes())
    assert read_efficiency(tmp_path / run.name) == EfficiencySummary.from_dict(json.loads((tmp_path / f"{run.name}.summary.json").read_text()))


def test_a_dataset_of_one_judged_query_is_reported_without_tests(tmp_path: Path) -> None:
    """A paired test needs two queries: with one judged query the table is printed, says it was not tested, and has no markers
    (it stopped with 'need two equally long lists of at least 2 paired scores, got 1 and 1' and wrote nothing)."""
    corpus = tmp_path / "one"
    (corpus / "qrels").mkdir(parents=True)
    (corpus / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": "", "text": d}) + "\n" for d in "abc"))
    (corpus / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "query"}) + "\n")
    (corpus / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t1\n")
    write_run(tmp_path / "run.a.txt", {"q1": [Candidate("b", 2.0), Candidate("a", 1.0)]}, "worse")
    write_run(tmp_path / "run.b.txt", {"q1": [Candidate("a", 2.0), Candidate("b", 1.0)]}, "better")
    args = ["report", str(tmp_path / "run.a.txt"), str(tmp_path / "run.b.txt"), "--baseline", "worse", "--dataset", "one", "--corpus", str(corpus)]
    result = CliRunner().invoke(main, [*args, "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "**one: no significance tests (1 judged query)**" in result.output
    assert "| better   |    1.0000 |" in result.output and "↑" not in result.output
