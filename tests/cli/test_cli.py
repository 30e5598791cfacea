"""The CLI end to end: real runs, one-line errors, exit codes, and no partial output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from resrank_eval.datasets import get_dataset
from resrank_eval.evaluate.metrics import evaluate
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.trec import read_run
from resrank_eval.rerank import Option, Reranked, Reranker
from resrank_eval.types import Candidate, QueryStats, Ranking
from tests.helpers import DL19_CANDIDATES, assert_one_line_error, invoke, killed_rerank


@pytest.fixture(scope="module")
def dl19_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dl19") / "bm25.txt"
    result = invoke("import-candidates", str(DL19_CANDIDATES), "--output", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_help_and_datasets_list_all_ten() -> None:
    result = invoke("datasets")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if not line.startswith(" ")]
    assert names == ["dl19", "dl20", "beir/trec-covid", "beir/nfcorpus", "beir/webis-touche2020", "beir/dbpedia-entity",
                     "beir/scifact", "beir/signal1m", "beir/trec-news", "beir/robust04"]


def test_import_and_evaluate_dl19(dl19_run: Path) -> None:
    result = invoke("evaluate", "--dataset", "dl19", str(dl19_run), "--format", "json")
    assert result.exit_code == 0
    row = json.loads(result.stdout)[0]
    assert row["nDCG@10"] == pytest.approx(0.5058, abs=5e-4) and row["queries"] == 43
    assert set(row) >= {"AP(rel=2)@1000", "R(rel=2)@100", "R(rel=2)@1000"}


def test_json_and_csv_carry_every_digit_of_the_library_scores(dl19_run: Path) -> None:
    """``--format json`` rounded to 10 digits (pandas' to_json): machine-readable outputs read back as the same floats."""
    scores = evaluate(read_run(dl19_run), get_dataset("dl19").qrels(), ["nDCG@10", "AP(rel=2)@1000"])
    rows = json.loads(invoke("evaluate", "--dataset", "dl19", str(dl19_run), "--format", "json").stdout)
    assert {m: rows[0][m] for m in scores.mean} == scores.mean
    per_query = json.loads(invoke("evaluate", "--dataset", "dl19", str(dl19_run), "--per-query", "--format", "json", "-m", "nDCG@10").stdout)
    assert {r["qid"]: r["nDCG@10"] for r in per_query} == {**{q: s["nDCG@10"] for q, s in scores.per_query.items()}, "all": scores.mean["nDCG@10"]}
    csv = invoke("evaluate", "--dataset", "dl19", str(dl19_run), "--format", "csv").stdout.splitlines()
    assert dict(zip(csv[0].split(","), csv[1].split(",")))["nDCG@10"] == repr(scores.mean["nDCG@10"])
    table = invoke("evaluate", "--dataset", "dl19", str(dl19_run)).stdout
    assert f"{scores.mean['nDCG@10']:.4f}" in table and repr(scores.mean["nDCG@10"]) not in table  # the table keeps its rounding


def test_per_query_csv_and_markdown(dl19_run: Path) -> None:
    csv = invoke("evaluate", "--dataset", "dl19", str(dl19_run), "--per-query", "--format", "csv", "-m", "nDCG@10").stdout
    lines = csv.splitlines()
    assert lines[0] == "run,qid,nDCG@10" and len(lines) == 1 + 43 + 1, lines[-3:]
    assert "| run" in invoke("evaluate", "--dataset", "dl19", str(dl19_run), "--format", "markdown").output


def test_dl20_mean_is_over_54_judged_queries(dl19_run: Path, tmp_path: Path) -> None:
    """A run of one DL20 query (a DL19 query's hits renamed): the mean is over every judged query, the others score 0."""
    qid = sorted(get_dataset("dl20").qrels())[0]
    lines = dl19_run.read_text().splitlines(keepends=True)
    run = tmp_path / "run.txt"
    run.write_text("".join(qid + line[line.index(" "):] for line in lines if line.split()[0] == lines[0].split()[0]))
    result = invoke("evaluate", "--dataset", "dl20", str(run), "--format", "json")
    assert json.loads(result.stdout)[0]["queries"] == 54
    assert f"{run} covers 1 of 54 judged queries; the other 53 score 0" in result.stderr


def test_export_round_trip(dl19_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    result = invoke("export-candidates", "--dataset", "dl19", "--run", str(dl19_run), "--corpus", f"{dl19_run}.passages.jsonl",
                    "--hits", "20", "--output", str(out))
    assert result.exit_code == 0, result.output
    entries = json.loads(out.read_text())
    assert len(entries) == 43 and len(entries[0]["hits"]) == 20 and entries[0]["hits"][0]["content"]


def test_rerank_identity_keeps_order_and_writes_stats(dl19_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "identity.txt"
    result = invoke("rerank", "--dataset", "dl19", "--run", str(dl19_run), "--corpus", f"{dl19_run}.passages.jsonl",
                    "--reranker", "identity", "--top-k", "10", "--run-tag", "bm25-identity", "--output", str(out))
    assert result.exit_code == 0, result.output
    before, after = read_run(dl19_run), read_run(out)
    assert out.read_text().split("\n", 1)[0].endswith(" bm25-identity")
    assert all([c.docid for c in before[q]] == [c.docid for c in after[q]] for q in before)
    stats = [json.loads(line) for line in Path(f"{out}.stats.jsonl").read_text().splitlines()]
    assert len(stats) == 43 and stats[0]["candidates"] == 10 and stats[0]["generated_tokens"] == 0
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["queries"] == 43 and "latency_ms_p95" in summary
    assert not Path(f"{out}.partial.jsonl").exists()
    same = ["rerank", "--dataset", "dl19", "--run", str(dl19_run), "--corpus", f"{dl19_run}.passages.jsonl", "--reranker", "identity",
            "--run-tag", "bm25-identity", "--output", str(out)]
    assert "skipping" in invoke(*same, "--top-k", "10").output
    assert_one_line_error(invoke(*same), "made with --top-k 10, now 100; pass --overwrite")


def test_rerank_reads_the_topics_of_the_split(tmp_path: Path) -> None:
    """NFCorpus dev queries are reranked with --split dev (the run's qids are not test topics)."""
    run = tmp_path / "dev.txt"
    run.write_text("PLAIN-1 Q0 MED-2421 1 2.0 bm25\nPLAIN-1 Q0 MED-2422 2 1.0 bm25\n")
    args = ["rerank", "--dataset", "beir/nfcorpus", "--run", str(run), "--reranker", "identity", "--output"]
    result = invoke(*args, str(tmp_path / "dev.identity.txt"), "--split", "dev")
    assert result.exit_code == 0, result.output
    assert [c.docid for c in read_run(tmp_path / "dev.identity.txt")["PLAIN-1"]] == ["MED-2421", "MED-2422"]
    result = invoke(*args, str(tmp_path / "test.identity.txt"))
    assert result.exit_code != 0 and "PLAIN-1" in result.output and not (tmp_path / "test.identity.txt").exists()


def test_rerank_resumes_from_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "resumed.txt"
    killed_rerank(out, "identity", monkeypatch, after=5, reverse=True)  # the first 5 queries reversed, then killed
    partial = Path(f"{out}.partial.jsonl")
    with open(partial, "a") as handle:
        handle.write('{"torn')
    result = invoke("--quiet", "rerank", "--dataset", "dl19", "--candidates", str(DL19_CANDIDATES), "--reranker", "identity",
                    "--output", str(out))
    assert result.exit_code == 0, result.output
    first_stage, reranked = read_candidates(DL19_CANDIDATES).run, read_run(out)
    qids = list(first_stage)
    assert [c.docid for c in reranked[qids[0]][:100]] == [c.docid for c in first_stage[qids[0]]][::-1], "finished queries are kept"
    assert [c.docid for c in reranked[qids[5]]] == [c.docid for c in first_stage[qids[5]]]
    assert "partial.jsonl:7: dropped a torn last line" in result.output  # a warning: shown even with --quiet
    assert "resuming" not in result.output and not partial.exists()  # info: not with --quiet


def test_a_corrupt_resume_file_is_an_error_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a torn last line may be dropped: a bad or edited line before it would silently lose (or keep) a query."""
    out = tmp_path / "resumed.txt"
    killed_rerank(out, "identity", monkeypatch, after=3)
    partial = Path(f"{out}.partial.jsonl")
    lines = partial.read_text().splitlines(keepends=True)
    args = ["rerank", "--dataset", "dl19", "--candidates", str(DL19_CANDIDATES), "--reranker", "identity", "--output", str(out)]
    partial.write_text(lines[0] + '{"qid": "2"}\n' + "".join(lines[1:]))
    assert_one_line_error(invoke(*args), "resumed.txt.partial.jsonl:2: not a results-log line")
    edited = json.loads(lines[2])
    edited["ranking"] = edited["ranking"][::-1]  # a hand-edited order, its checksum left as it was
    partial.write_text("".join(lines[:2]) + json.dumps(edited) + "\n" + "".join(lines[3:]))
    assert_one_line_error(invoke(*args), "resumed.txt.partial.jsonl:3: changed after it was written")
    assert not out.exists()


class ReverseReranker(Reranker):
    """A toy reranker that exists only in this file: reverses each top-k, optionally keeping rank 1."""

    name = "reverse-toy"
    options = (Option("keep_first", False, "Leave rank 1 where it is.", bool),)

    def __init__(self, keep_first: bool) -> None:
        self.keep_first = keep_first

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        results = []
        for ranking in rankings:
            head = ranking.candidates[:1] if self.keep_first else []
            order = head + ranking.candidates[len(head):][::-1]
            scored = [Candidate(c.docid, float(len(order) - i)) for i, c in enumerate(order)]
            results.append(Reranked(scored, QueryStats(ranking.query.qid, self.name, len(order))))
        return results


def test_a_reranker_defined_in_a_test_runs_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "reverse.txt"
    assert "--keep-first" in invoke("rerank", "--help").output
    result = invoke("rerank", "--dataset", "dl19", "--candidates", str(DL19_CANDIDATES), "--reranker", "reverse-toy", "--keep-first",
                    "--top-k", "5", "--batch-size", "4", "--output", str(out))
    assert result.exit_code == 0, result.output
    before, after = read_candidates(DL19_CANDIDATES).run, read_run(out)
    for qid, hits in before.items():
        docids = [c.docid for c in hits]
        assert [c.docid for c in after[qid]] == [docids[0], *docids[4:0:-1], *docids[5:]]
    stats = [json.loads(line) for line in Path(f"{out}.stats.jsonl").read_text().splitlines()]
    assert {s["reranker"] for s in stats} == {"reverse-toy"} and [s["batch_size"] for s in stats[-4:]] == [4, 3, 3, 3]
    refused = invoke("rerank", "--dataset", "dl19", "--candidates", str(DL19_CANDIDATES), "--reranker", "reverse-toy", "--window", "4",
                     "--output", str(tmp_path / "other.txt"))
    assert_one_line_error(refused, "--window does not apply to reranker 'reverse-toy'")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["evaluate", "--dataset", "nope", "{run}"], ["unknown dataset 'nope'"]),
        (["retrieve", "--dataset", "beir/nfcorpus", "--corpus", "/does/not/exist", "--output", "{out}"], ["corpus directory does not exist"]),
        (["retrieve", "--dataset", "beir/nfcorpus", "--topics", "{empty}", "--output", "{out}"], ["no topics found"]),
        (["evaluate", "--dataset", "dl19", "{badrun}"], ["bad.run:2:", "expected 6 columns"]),
        (["evaluate", "--dataset", "dl19", "--qrels", "{badqrels}", "{run}"], ["bad.qrels:1:"]),
        (["index", "--dataset", "mine", "--corpus", "{badcorpus}"], ["corpus.jsonl:2: invalid JSON"]),
        (["rerank", "--dataset", "dl19", "--run", "{run}", "--reranker", "resrank", "--output", "{out}"], ["needs --model"]),
        (["evaluate", "--dataset", "dl19", "-m", "MAP", "{run}"], ["unknown measure 'MAP'"]),
        (["rerank", "--dataset", "dl19", "--candidates", "{candidates}", "--reranker", "identity", "--run-tag", "two words", "--output", "{out}"],
         ["run tag must be one non-empty word"]),
        (["fuse", "{run}", "{run}", "--run-tag", "a\x01b", "--output", "{out}"], ["--run-tag", "without control characters"]),
    ],
)
def test_bad_input_one_line_error_no_output(tmp_path: Path, dl19_run: Path, args: list[str], fragments: list[str]) -> None:
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "bad.run").write_text("1 Q0 d 1 1.0 t\n1 Q0 d2 2\n")
    (tmp_path / "bad.qrels").write_text("1 0 d\n")
    (tmp_path / "badcorpus").mkdir()
    (tmp_path / "badcorpus" / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n{"_id": \n')
    out = tmp_path / "out.txt"
    values = {"{run}": str(dl19_run), "{out}": str(out), "{empty}": str(tmp_path / "empty.tsv"), "{badrun}": str(tmp_path / "bad.run"),
              "{badqrels}": str(tmp_path / "bad.qrels"), "{badcorpus}": str(tmp_path / "badcorpus"), "{candidates}": str(DL19_CANDIDATES)}
    result = invoke(*[values.get(a, a) for a in args])
    assert_one_line_error(result, *fragments)
    assert not out.exists() and not list(tmp_path.glob(".out.txt*"))



@pytest.mark.slow  # ~15 s each on 2 cores: the bundled encoder loads, and the encode is interrupted once it holds its folder
@pytest.mark.parametrize("rank", [None, "1"])
def test_ctrl_c_exits_130_with_one_line_and_no_output(rank: str | None, tmp_path: Path) -> None:
    """SIGINT to the process group, as a terminal's Ctrl-C sends it: status 130 (128 + SIGINT, the shells' convention) and one
    line, where click said "Aborted!" with exit 1; no traceback, and no index file written. A torchrun worker other than rank 0
    says nothing (every worker printed the line)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    index = tmp_path / "index"
    process = subprocess.Popen([sys.executable, "-m", "resrank_eval", "--quiet", "encode", "--dataset", "beir/nfcorpus", "--model",
                                "mini", "--index", str(index), "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, **({"RANK": rank} if rank else {})},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # not ignored, if pytest's is
    lock, deadline = index / ".index.lock", time.monotonic() + 120  # the lock of its FAISS file, "index"
    while not lock.exists() and process.poll() is None and time.monotonic() < deadline:  # the command is at work
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    # A shell reports 130 either way: exit(130), or death by SIGINT, which CPython chooses under `python -m` when the signal
    # landed inside an exec() of a string (dataclasses and namedtuple build methods so, at import): it then marks the
    # KeyboardInterrupt unhandled for good, whatever caught it (the console script exits 130 always)
    expected = "" if rank else "Error: interrupted\n"
    assert (process.returncode in (130, -signal.SIGINT), stderr) == (True, expected), (process.returncode, stderr[-2000:])
    assert stdout == "" and not lock.exists() and [p.name for p in index.iterdir()] in ([], ["shards"])


def test_a_message_is_printed_once_after_pyserini_is_imported() -> None:
    """Pyserini's search module calls ``logging.basicConfig`` when imported, so from the first BM25 step on every message of
    ours was printed twice, the second time with a timestamp (the demo's 'prefix KV reuse on ...')."""
    code = ("import logging; from resrank_eval.logs import configure; from resrank_eval.jvm import pyserini_module; configure(0); "
            "pyserini_module('pyserini.search.lucene'); logging.getLogger('resrank_eval.test').info('ours'); "
            "logging.getLogger('other').warning('theirs')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines.count("ours") == 1 and sum("ours" in line for line in lines) == 1, done.stderr
    assert sum("theirs" in line for line in lines) == 1, done.stderr  # another library's warning still shows, once
