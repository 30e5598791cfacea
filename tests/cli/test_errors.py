"""Bad arguments and bad inputs through the CLI: no success reported for nothing, and no traceback for any bad input.

Every case: exit status 2, exactly one line on stderr (``Error: ...``), no traceback, no output file
(not even a partial one), and -- where a model is named -- the error comes before any weights load.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.datasets.interchange import import_candidates_step
from resrank_eval.datasets.registry import get_dataset
from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model.sources import BUNDLED_MODEL
from resrank_eval.parallel import sharded
from resrank_eval.report.runs import load_run_file
from resrank_eval.rerank import Reranked, Reranker, rerank_run, reranker_factory
from resrank_eval.retrieve import fuse
from resrank_eval.types import Candidate, QueryStats, Ranking
from tests.helpers import DL19_CANDIDATES, REPO, write_config
from tests.tiny_models import tiny_config

NFCORPUS_TOPICS = REPO / "qrels" / "topics.beir-v1.0.0-nfcorpus.test.tsv.gz"


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_refused(result: Result, *fragments: str) -> str:
    """Exit 2, one ``Error:`` line on stderr and nothing else there, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def dl19(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled DL19 candidates imported as a run and a passage store."""
    run = tmp_path_factory.mktemp("dl19") / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", run).exit_code == 0
    return run


def rerank_args(dl19: Path, out: Path, *extra: str | Path) -> list[str | Path]:
    return ["rerank", "--dataset", "dl19", "--run", dl19, "--corpus", f"{dl19}.passages.jsonl", "--output", out, *extra]


def nothing_written(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(("out", ".out"))]


# -- no success reported for nothing ------------------------------------------------------------


@pytest.mark.parametrize("extra", [["--batch-size", "-1"], ["--batch-size", "0"], ["--top-k", "0"]])
def test_rerank_batch_size_and_top_k_must_be_positive(dl19: Path, tmp_path: Path, extra: list[str]) -> None:
    assert_refused(run_cli(*rerank_args(dl19, tmp_path / "out.txt", "--reranker", "identity", *extra)), extra[0])
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("hits", ["0", "-5"])
def test_retrieve_hits_must_be_positive(tmp_path: Path, hits: str) -> None:
    assert_refused(run_cli("retrieve", "--dataset", "beir/nfcorpus", "--hits", hits, "--output", tmp_path / "out.txt"), "--hits")
    assert nothing_written(tmp_path)


def test_reranking_an_empty_run_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run_cli("rerank", "--dataset", "dl19", "--run", empty, "--corpus", tmp_path, "--reranker", "identity", "--output", tmp_path / "out.txt")
    assert_refused(result, "empty.txt: no run lines")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("extra", [["--alpha", "2"], ["--alpha", "0"], ["--resamples", "0"]])
def test_report_alpha_and_resamples_out_of_range_are_refused(dl19: Path, tmp_path: Path, extra: list[str]) -> None:
    assert_refused(run_cli("report", dl19, "--dataset", "dl19", *extra, "--output", tmp_path / "out"), extra[0])
    assert nothing_written(tmp_path)


ONE_RUN = {"q": [Candidate("d", 1.0)]}


@pytest.mark.parametrize(("call", "python", "args", "cli"), [
    (lambda: fuse([ONE_RUN, ONE_RUN], k=0), "k must be a positive number, got 0",
     lambda run, out: ["fuse", run, run, "--rrf.k", "0", "--output", out], "--rrf.k must be a positive number, got 0"),
    (lambda: fuse([ONE_RUN, ONE_RUN], "interpolate", k=0), "k does not apply to interpolate (it is for method rrf)",
     lambda run, out: ["fuse", run, run, "--method", "interpolate", "--rrf.k", "0", "--output", out],
     "--rrf.k does not apply to interpolate (it is for --method rrf)"),
    (lambda: fuse([ONE_RUN, ONE_RUN], weights=[1, 0]), "weights must be positive numbers (summing to at most 3.4e+38), got 1, 0",
     lambda run, out: ["fuse", run, run, "--weights", "1,0", "--output", out], "--weights must be positive numbers (summing to at most 3.4e+38), got 1, 0"),
    (lambda: reranker_factory("identity", window=4), "window does not apply to reranker 'identity' (it takes no options)",
     lambda run, out: rerank_args(run, out, "--reranker", "identity", "--window", "4"),
     "--window does not apply to reranker 'identity' (it takes no options)"),
    (lambda: reranker_factory("rankgpt", model="smollm2", temperature="0.7"),
     "temperature applies to api_base servers; local models decode greedily",
     lambda run, out: rerank_args(run, out, "--reranker", "rankgpt", "--model", "smollm2", "--temperature", "0.7"),
     "--temperature applies to --api-base servers; local models decode greedily"),
    (lambda: sharded(None, 2), "pass shard_id and shard_num together (one job of an array), or neither",
     lambda run, out: rerank_args(run, out, "--reranker", "identity", "--shard-num", "2"),
     "pass --shard-id and --shard-num together (one job of an array), or neither"),
])
def test_library_errors_name_python_arguments_and_the_cli_its_flags(dl19: Path, tmp_path: Path, call: Callable[[], object],
                                                                     python: str, args: Callable[[Path, Path], list], cli: str) -> None:
    """``rr.fuse(k=0)`` said ``--k must be ...`` to a Python caller: the library names its arguments, the CLI its flags."""
    with pytest.raises(ResrankError) as info:
        call()
    assert str(info.value) == python
    assert assert_refused(run_cli(*args(dl19, tmp_path / "out.txt"))) == f"Error: {cli}"
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("call", "python", "args", "cli"), [
    (lambda out: import_candidates_step(DL19_CANDIDATES, out).run(), "exists, but no record says what made it "
     "(out.txt.provenance.json is missing); pass overwrite to make it again",
     lambda out: ["import-candidates", DL19_CANDIDATES, "--output", out], "exists, but no record says what made it "
     "(out.txt.provenance.json is missing); pass --overwrite to make it again"),
    (lambda out: load_run_file(out), "cannot tell the dataset from the file name; pass dataset",
     lambda out: ["report", out], "cannot tell the dataset from the file name; pass --dataset"),
    (lambda out: get_dataset("nosuch"), "(or pass corpus, a local BEIR folder)",
     lambda out: ["retrieve", "--dataset", "nosuch", "--output", out.with_name("run.txt")], "(or pass --corpus, a local BEIR folder)"),
])
def test_refusals_name_the_python_argument_that_answers_them_and_the_cli_its_flag(tmp_path: Path, call: Callable[[Path], object],
                                                                                  python: str, args: Callable[[Path], list],
                                                                                  cli: str) -> None:
    """``import_candidates_step(...).run()`` over a file of one's own said 'pass --overwrite', a flag a Python caller
    has no way to pass (as did 'pass --dataset', '--corpus DIR', '--resume'): the library names the argument."""
    out = tmp_path / "out.txt"
    out.write_text("1 Q0 d 1 1.0 mine\n")
    with pytest.raises(ResrankError) as info:
        call(out)
    assert python in str(info.value) and "--" not in str(info.value)
    assert cli in assert_refused(run_cli(*args(out)))
    assert out.read_text() == "1 Q0 d 1 1.0 mine\n"


def test_a_negative_learning_rate_is_refused_at_its_yaml_line(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("output_dir: out\nmodel: {preset: mini}\ndata: {train: t.jsonl}\nstages:\n  - {name: s, steps: 2, lr: -0.001}\n")
    assert_refused(run_cli("train", "--config", config), "train.yaml:5:", "lr: expected > 0.0, got -0.001")


# -- no traceback for bad inputs --------------------------------------------------------------


def test_evaluating_a_non_utf8_run_is_refused_at_its_line(tmp_path: Path) -> None:
    run = tmp_path / "run.txt"
    run.write_bytes(b"264014 Q0 d\xff1 1 1.0 t\n")
    assert_refused(run_cli("evaluate", "--dataset", "dl19", run), "run.txt:1: not UTF-8 text")


def test_evaluating_a_truncated_gzip_run_is_refused(tmp_path: Path) -> None:
    data = gzip.compress("".join(f"264014 Q0 d{i} {i + 1} {1000 - i} t\n" for i in range(3000)).encode())
    run = tmp_path / "run.txt.gz"
    run.write_bytes(data[: len(data) // 3])
    assert_refused(run_cli("evaluate", "--dataset", "dl19", run), "run.txt.gz:", "the file is truncated")


def test_a_qrels_line_that_lost_a_column_is_refused_at_its_line(tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.txt"
    text = (REPO / "qrels" / "qrels.dl19-passage.txt").read_text()
    qrels.write_text(text + "19335 0 1017759\n")  # read alone, docid '0' judged 1017759
    lines = text.count("\n") + 1
    run = REPO / "runs" / "dl19" / "run.dl19.bm25.txt"
    assert_refused(run_cli("evaluate", "--dataset", "dl19", "--qrels", qrels, run, "--output", tmp_path / "out.txt"),
                   f"qrels.txt:{lines}: got 3 columns, but line 1 has 4 (qid iter docid rel)")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("measure", "why"), [("P@0", "cutoff"), ("nDCG@1.5", "cutoff"), ("RR(rel=0)@10", "rel"), ("R(rel=1.5)@10", "rel")])
def test_a_measure_with_a_cutoff_or_rel_below_1_is_refused(tmp_path: Path, measure: str, why: str) -> None:
    """P@0 used to abort the process inside pytrec_eval; the others were internal errors."""
    run = REPO / "runs" / "dl19" / "run.dl19.bm25.txt"
    assert_refused(run_cli("evaluate", "--dataset", "dl19", "-m", measure, run, "--output", tmp_path / "out.txt"),
                   f"measure {measure!r}: {why} must be an integer >= 1")
    assert nothing_written(tmp_path)


def test_reproduce_refuses_a_fractional_cutoff_before_anything_runs(tmp_path: Path) -> None:
    assert_refused(run_cli("reproduce", "offline", "--measure", "nDCG@1.5", "--output", tmp_path / "out"),
                   "measure 'nDCG@1.5': cutoff must be an integer >= 1, got 1.5")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_a_run_sharing_no_query_with_the_qrels_is_refused(tmp_path: Path, command: str) -> None:
    """A DL19 run scored as NFCorpus: an error, not a table of 0.0000."""
    run = REPO / "runs" / "dl19" / "run.dl19.bm25.txt"
    assert_refused(run_cli(command, "--dataset", "beir/nfcorpus", run, "--output", tmp_path / "out"),
                   f"{run} shares no query with the qrels (43 run queries, e.g. 1037798; 323 judged, e.g. PLAIN-1008)")
    assert not (tmp_path / "out").exists()


def test_importing_candidates_that_are_not_gzip_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "c.json.gz"
    fake.write_text("[]")
    assert_refused(run_cli("import-candidates", fake, "--output", tmp_path / "out.txt"), "c.json.gz:1: broken gzip data")
    assert nothing_written(tmp_path)


HIT = {"content": "a passage", "qid": "q1", "docid": "d1", "rank": 1, "score": 2.0}


@pytest.mark.parametrize(("name", "entry", "error"), [
    ("c.json", {"query": "  ", "hits": [HIT]}, "c.json: entry 0: 'query' has no text"),
    ("c.json", {"query": "\u200b\u00ad", "hits": [HIT]}, "c.json: entry 0: 'query' has no text"),
    ("c.jsonl", {"query": {"text": " \t", "qid": "q1"}, "candidates": [{"docid": "d1", "score": 2.0, "doc": "a passage"}]},
     "c.jsonl:1: request 0: query 'q1' has no text"),
])
def test_a_blank_query_is_refused_where_the_candidates_are_read(tmp_path: Path, name: str, entry: dict, error: str) -> None:
    """Probe: the passage store and the record were written, then writing the topics failed, leaving both behind."""
    path = tmp_path / name
    path.write_text(json.dumps([entry]) if name.endswith(".json") else json.dumps(entry) + "\n", encoding="utf-8")
    assert_refused(run_cli("import-candidates", path, "--output", tmp_path / "out.txt", "--topics-output", tmp_path / "out.tsv"),
                   f"{tmp_path / error}")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("name", "text", "command", "error"), [
    ("in.txt", "q1 Q0 d1 1 -1e300 t\nq1 Q0 d2 2 -1e300 t\n", ["convert-run", "--to", "trec"], 'in.txt:1: score "-1e300"'),
    ("c.json", json.dumps([{"query": "q", "hits": [dict(HIT, score=-1e300), dict(HIT, docid="d2", score=-1e300)]}]),
     ["import-candidates"], "c.json: entry 0, hit 0: score -1e+300"),
])
def test_a_score_past_float32_is_refused_where_it_is_read(tmp_path: Path, name: str, text: str, command: list[str],
                                                           error: str) -> None:
    """Probe: two hits tied at -1e300 were nudged to -inf, with a numpy warning, and the run written said ``-inf``, which
    ``read_run`` refuses: trec_eval holds scores as 32-bit floats, where -1e300 is -inf already."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    line = assert_refused(run_cli(command[0], path, *command[1:], "--output", tmp_path / "out.txt"), f"{tmp_path / error}")
    assert "past a 32-bit float's range" in line
    assert nothing_written(tmp_path)


def test_hits_tied_at_float32_s_lowest_score_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    """No 32-bit float lies below -3.4028235e38 to rank the second hit under the first (a nudge there gave ``-inf``): the run
    is refused, and written first, so the passage store is not left behind."""
    path = tmp_path / "c.json"
    lowest = -3.4028234663852886e38
    path.write_text(json.dumps([{"query": "q", "hits": [dict(HIT, score=lowest), dict(HIT, docid="d2", score=lowest)]}]))
    assert_refused(run_cli("import-candidates", path, "--output", tmp_path / "out.txt"),
                   f"{tmp_path / 'out.txt'}: cannot write query 'q1' of the run: no score lies below -3.40282e+38")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize("output", ["out.jsonl", "out.json"])
def test_exporting_a_run_query_without_a_topic_is_refused_in_either_format(tmp_path: Path, output: str) -> None:
    """Probe: rank_llm's Request format (``*.jsonl``) failed with ``internal error, KeyError: 'q3'``; RankGPT's refused."""
    topics, run, corpus = tmp_path / "t.tsv", tmp_path / "run.txt", tmp_path / "corpus.jsonl"
    topics.write_text("q1\tfirst query\n")
    run.write_text("q1 Q0 d1 1 2.0 t\nq3 Q0 d1 1 2.0 t\n")
    corpus.write_text('{"_id": "d1", "title": "", "text": "a passage"}\n')
    assert_refused(run_cli("export-candidates", "--topics", topics, "--run", run, "--corpus", corpus, "--output", tmp_path / output),
                   "1 run queries have no topic text (e.g. 'q3'); check --dataset/--topics")
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(("name", "keep"), [("head.safetensors", 0.5), ("head.safetensors", 0.0), ("delta.safetensors", 0.5)])
def test_truncated_weights_are_refused_before_loading(dl19: Path, tmp_path: Path, name: str, keep: float) -> None:
    model = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL, model)
    data = (model / name).read_bytes()
    (model / name).write_bytes(data[: int(len(data) * keep)])
    result = run_cli(*rerank_args(dl19, tmp_path / "out.txt", "--reranker", "resrank", "--model", model))
    assert_refused(result, f"{model / name}: not a complete safetensors file")
    assert nothing_written(tmp_path)


@pytest.mark.skipif(sys.platform == "darwin", reason="a Mac may have mps")
def test_a_device_type_this_machine_lacks_is_refused_before_loading(dl19: Path, tmp_path: Path) -> None:
    """``--device mps`` passed (only cuda was checked); the model loaded, then torch failed in its own words."""
    result = run_cli(*rerank_args(dl19, tmp_path / "out.txt", "--reranker", "resrank", "--model", BUNDLED_MODEL, "--device", "mps"))
    assert_refused(result, "device 'mps' asked for, but this machine has no mps device (it has cpu")
    assert nothing_written(tmp_path)


def test_a_wrongly_typed_model_config_is_refused_at_its_yaml_line(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("output_dir: out\nmodel:\n  preset: mini\n  config:\n    reranker_layers: four\ndata: {train: t.jsonl}\n")
    assert_refused(run_cli("train", "--config", config), "train.yaml:5:", "reranker_layers: expected an integer")


def test_missing_training_data_is_refused_before_any_output(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{preset: mini}}\ndata: {{train: {tmp_path / 'nope.jsonl'}}}\n")
    assert_refused(run_cli("train", "--config", config), "nope.jsonl: data.train: no such file")
    assert not (tmp_path / "out").exists()


def test_an_output_under_a_regular_file_is_refused_and_missing_folders_are_made(dl19: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = run_cli(*rerank_args(dl19, tmp_path / "afile" / "out.txt", "--reranker", "identity"))
    assert result.exit_code == 2 and "afile is a file, not a folder" in result.stderr and "Traceback" not in result.output
    missing = run_cli(*rerank_args(dl19, tmp_path / "new" / "deeper" / "out.txt", "--reranker", "identity"))
    assert missing.exit_code == 0 and (tmp_path / "new" / "deeper" / "out.txt").is_file(), "a missing folder is created"


@pytest.mark.parametrize("extra", [["--stride", "0"], ["--window", "5", "--stride", "10"], ["--max-words", "0"]])
def test_bad_rankgpt_window_options_are_refused(dl19: Path, tmp_path: Path, extra: list[str]) -> None:
    result = run_cli(*rerank_args(dl19, tmp_path / "out.txt", "--reranker", "rankgpt", "--model", "smollm2", *extra))
    assert_refused(result, extra[-2])
    assert nothing_written(tmp_path)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    run = tmp_path / "run.txt"
    run.write_bytes(b"\xff\n")
    result = CliRunner().invoke(main, ["--debug", "evaluate", "--dataset", "dl19", str(run)])
    assert result.exit_code != 0 and result.exception is not None and "not UTF-8" in str(result.exception)


FLOAT32_LOWEST = -3.4028234663852886e38


class ToyScores(Reranker):
    """Scores each query's candidates ``scores(n)``, in the order given: what a reranker's numerics may go wrong to."""

    @staticmethod
    def scores(n: int) -> list[float]:
        raise NotImplementedError

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        return [Reranked([Candidate(c.docid, s) for c, s in zip(r.candidates, self.scores(len(r.candidates)))],
                         QueryStats(r.query.qid, self.name, 1)) for r in rankings]


class NaNReranker(ToyScores):
    """Scores every candidate NaN, as an fp16 overflow would."""

    name = "nan-toy"
    scores = staticmethod(lambda n: [float("nan")] * n)


class Float32OverflowReranker(ToyScores):
    """A first score past float32's range, which trec_eval holds as infinite and ``write_run`` refuses."""

    name = "float32-overflow-toy"
    scores = staticmethod(lambda n: [1e39] + [-float(i) for i in range(1, n)])


class LowestTiesReranker(ToyScores):
    """Candidates masked with float32's lowest score (``torch.finfo(torch.float32).min``): tied, none lies below."""

    name = "lowest-ties-toy"
    scores = staticmethod(lambda n: [1.0] + [FLOAT32_LOWEST] * (n - 1))


class LowestLastReranker(ToyScores):
    """The last of the top-k at float32's lowest score, untied: the first stage's other hits have no score below it."""

    name = "lowest-last-toy"
    scores = staticmethod(lambda n: [-float(i) for i in range(n - 1)] + [FLOAT32_LOWEST])


@pytest.mark.parametrize(("reranker", "error"), [
    (NaNReranker, "score NaN is not finite"),
    (Float32OverflowReranker, "score 1e+39 is past a 32-bit float's range"),
    (LowestTiesReranker, "-3.40282e+38: no 32-bit float (as trec_eval holds scores) lies below it to rank the hits after it"),
    (LowestLastReranker, "-3.40282e+38: no 32-bit float (as trec_eval holds scores) lies below it to rank the hits after it"),
])
def test_a_reranker_score_no_run_holds_is_refused_at_the_source(tmp_path: Path, reranker: type[ToyScores], error: str) -> None:
    """Probe: a score past float32's range was refused by ``write_run`` after the whole rerank, and scores tied at its
    lowest ended ``rerank_run`` in a bare ValueError: each is refused as its query is reranked, naming reranker and hit."""
    data = read_candidates(DL19_CANDIDATES)
    qid = next(iter(data.run))
    with pytest.raises(ResrankError, match=rf"reranker '{reranker.name}' scored docid '\w+' of query '{qid}'"):
        rerank_run(reranker(), data.topics, data.run, data.passages, top_k=5)
    result = run_cli("rerank", "--dataset", "dl19", "--candidates", DL19_CANDIDATES, "--reranker", reranker.name, "--top-k", 5,
                     "--output", tmp_path / "out.txt")
    assert_refused(result, f"reranker '{reranker.name}' scored docid", f"of query '{qid}'", error)
    assert nothing_written(tmp_path)


# -- train: config values and --set (fixtrain) ---------------------------------------------------


def test_a_non_finite_training_option_is_refused_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{preset: mini}}\ndata: {{train: t.jsonl}}\nlosses:\n  temperature: .nan\n")
    assert_refused(run_cli("train", "--config", config), "train.yaml:5:", "losses.temperature: expected a finite number, got nan")
    assert not (tmp_path / "out").exists()


def test_a_bad_train_override_names_the_set_not_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{preset: mini}}\ndata: {{train: t.jsonl}}\n")
    line = assert_refused(run_cli("train", "--config", config, "--set", "training.batch_size=0"))
    assert line == "Error: --set training.batch_size=0: training.batch_size: expected >= 1, got 0"
    assert not (tmp_path / "out").exists()


def test_a_file_where_training_keeps_its_checkpoints_is_refused_before_training(tmp_path: Path) -> None:
    """Probe E: training ran its first step, then failed on '.step-0000001.tmp: Not a directory', leaving records behind."""
    train = tmp_path / "t.jsonl"
    train.write_text('{"qid": "q", "query": "x", "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "checkpoints").write_text("")
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{preset: mini}}\ndata: {{train: {train}}}\n")
    line = assert_refused(run_cli("train", "--config", config))
    assert line == f"Error: {tmp_path / 'out' / 'checkpoints'}: is not a folder"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["checkpoints"]


@pytest.mark.parametrize("checkpoints", ["missing", "empty"])
def test_resume_without_a_checkpoint_is_refused_before_training(tmp_path: Path, checkpoints: str) -> None:
    """Probe: --resume into an output_dir with no checkpoint silently trained from scratch (a tiny model: a regression is quick)."""
    train = tmp_path / "t.jsonl"
    train.write_text('{"qid": "q", "query": "x", "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}\n')
    config = write_config(tmp_path, tiny_config(tmp_path / "tiny").to_dict(), train, stages=[{"name": "s", "steps": 1, "lr": 1e-3}])
    if checkpoints == "empty":
        (tmp_path / "out" / "checkpoints").mkdir(parents=True)
    line = assert_refused(run_cli("train", "--config", config, "--resume"))
    assert line == f"Error: {tmp_path / 'out' / 'checkpoints'}: no checkpoint to resume from; without --resume, training starts fresh"
    assert [str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")] == ["checkpoints"] * (checkpoints == "empty")


def test_a_first_checkpoint_a_kill_cut_short_lets_training_start_fresh(tmp_path: Path) -> None:
    """--resume says there is no checkpoint and to train without it, which refused: 'holds checkpoints of an earlier run'."""
    train = tmp_path / "t.jsonl"
    train.write_text('{"qid": "q", "query": "x", "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}\n')
    config = write_config(tmp_path, tiny_config(tmp_path / "tiny").to_dict(), train, stages=[{"name": "s", "steps": 1, "lr": 1e-3}])
    partial = tmp_path / "out" / "checkpoints" / ".step-0000001.tmp"
    partial.mkdir(parents=True)
    (partial / "tensors.safetensors").write_bytes(b"cut short")
    assert_refused(run_cli("train", "--config", config, "--resume"), "no checkpoint to resume from")
    result = run_cli("train", "--config", config)
    assert result.exit_code == 0, result.output
    assert not partial.exists() and (tmp_path / "out" / "final").is_dir()
    foreign = tmp_path / "out2" / "checkpoints" / "notes.txt"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("mine")
    other = write_config(tmp_path, tiny_config(tmp_path / "tiny").to_dict(), train, stages=[{"name": "s", "steps": 1, "lr": 1e-3}],
                         output_dir=str(tmp_path / "out2"))
    assert_refused(run_cli("train", "--config", other), f"{foreign.parent}: holds notes.txt, no checkpoint")
    assert foreign.read_text() == "mine"


def test_a_missing_local_base_model_is_no_such_folder(tmp_path: Path) -> None:
    train = tmp_path / "t.jsonl"
    train.write_text('{"qid": "q", "query": "x", "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}\n')
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{path: ./no/such/model}}\ndata: {{train: {train}}}\n")
    line = assert_refused(run_cli("train", "--config", config))
    assert line.startswith("Error: ./no/such/model: no such folder (and not a preset: ")
    assert not (tmp_path / "out").exists()
