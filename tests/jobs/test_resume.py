"""Resuming and skip-if-exists are keyed on what produced the output (the job layer, ``resrank_eval.jobs``).

A changed argument, model or input is refused with one line naming it (before any model loads);
the same command resumes or keeps; ``--overwrite`` starts over. Covers rerank (results log and
finished outputs), retrieve, import-candidates (a deleted passage store is made again), encode's
logs and training. Jobs are "killed" for real: a reranker that raises after N queries.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.results_log import ResultsLog
from resrank_eval.formats.trec import read_run
from resrank_eval.jobs import shard_log
from resrank_eval.model import ResRankModel
from resrank_eval.model.check import write_manifest
from resrank_eval.model.sources import BUNDLED_MODEL
from resrank_eval.parallel import WHOLE
from resrank_eval.provenance import Provenance
from resrank_eval.rerank import Reranked, RerankerFactory, rerank_step, reranker_factory
from resrank_eval.rerank.resrank import ResRankReranker
from resrank_eval.retrieve.dense import SHARDS_DIR, encode_provenance, encode_step
from resrank_eval.train.config import load_config
from resrank_eval.train.trainer import Trainer
from resrank_eval.types import Ranking
from tests.helpers import DL19_CANDIDATES, NFCORPUS, REPO, Killed, killed_rerank, write_preset_train_config
from tests.tiny_models import tiny_config


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("Error: ") and "--overwrite" in line, result.stderr
    for fragment in fragments:
        assert fragment in line, line


def rerank_cli(out: Path, reranker: str, *extra: str | Path) -> Result:
    return run_cli("rerank", "--dataset", "dl19", "--candidates", DL19_CANDIDATES, "--reranker", reranker, "--output", out, *extra)


class DiesAtItsThirdBatch(ResRankReranker):
    """The ResRank reranker (the same name, options and scores) of a job killed when it starts its third batch."""

    batches = 0

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        if self.batches == 2:
            raise KeyboardInterrupt("killed")
        self.batches += 1
        return super().rerank_batch(rankings)


def test_a_resumed_resrank_job_writes_what_an_uninterrupted_one_writes(tmp_path: Path) -> None:
    """A real model (query residual, several passes per query) in batches of 3, killed after two batches with its log
    short of the second batch's last query (as a kill between two of its lines leaves it): the resumed job ranks that
    batch again whole (batch composition changes rounding), and its run and stats are the uninterrupted job's, byte for byte."""
    torch.manual_seed(0)
    config = tiny_config(tmp_path, residual="gated", query_residual=True, max_candidates_per_pass=4)
    ResRankModel.from_config(config, "cpu", "float32").save_pretrained(tmp_path / "model")
    options = ["--model", tmp_path / "model", "--device", "cpu", "--top-k", "8", "--batch-size", "3"]
    straight = rerank_cli(tmp_path / "straight.txt", "resrank", *options)
    assert straight.exit_code == 0, straight.output
    out = tmp_path / "resumed.txt"
    data = read_candidates(DL19_CANDIDATES)
    factory = reranker_factory("resrank", model=str(tmp_path / "model"), device="cpu")
    killed = rerank_step(RerankerFactory(DiesAtItsThirdBatch, factory.options), data.topics, data.run, data.passages, out, 8, 3,
                         texts={"candidates": str(DL19_CANDIDATES)})
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    partial = Path(f"{out}.partial.jsonl")
    lines = partial.read_text().splitlines(keepends=True)
    assert len(lines) == 1 + 6  # the header and two batches of queries
    partial.write_text("".join(lines[:-1]))
    resumed = rerank_cli(out, "resrank", *options)
    assert resumed.exit_code == 0, resumed.output
    assert out.read_bytes() == (tmp_path / "straight.txt").read_bytes()

    def untimed(run: Path) -> list[dict]:
        timings = ("encode_ms", "rerank_ms", "total_ms")
        return [{k: v for k, v in json.loads(line).items() if k not in timings} for line in Path(f"{run}.stats.jsonl").read_text().splitlines()]

    assert untimed(out) == untimed(tmp_path / "straight.txt")


def test_resume_after_changing_top_k_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", monkeypatch, top_k=100)
    refused(rerank_cli(out, "identity", "--top-k", "20"), "run.txt.partial.jsonl: made with --top-k 100, now 20")
    assert not out.exists()
    resumed = rerank_cli(out, "identity")  # the same arguments resume: 42 queries to go
    assert resumed.exit_code == 0, resumed.output
    assert len(read_run(out)) == 43 and not Path(f"{out}.partial.jsonl").exists()


def test_resume_with_another_model_is_refused_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, other = tmp_path / "first", tmp_path / "other"
    shutil.copytree(BUNDLED_MODEL, first)
    shutil.copytree(BUNDLED_MODEL, other)
    config = json.loads((other / "resrank.json").read_text())
    (other / "resrank.json").write_text(json.dumps({**config, "score_scale": 20.0}))
    write_manifest(other)  # another model, whole (not the bundled one with an edited config, which its manifest refuses)
    out = tmp_path / "run.txt"
    killed_rerank(out, "encoder", monkeypatch, model=first)
    refused(rerank_cli(out, "encoder", "--model", other), "made from a different --model", f"(was {first}, now {other})")


def test_resume_under_another_thread_count_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's intra-op threads change scores in the last digits (torchrun runs one per process): they are an argument."""
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", monkeypatch)
    threads = json.loads(Path(f"{out}.partial.jsonl").read_text().splitlines()[0])["provenance"]["arguments"]["threads"]
    refused(rerank_cli(out, "identity", "--threads", str(threads + 1)), f"made with --threads {threads}, now {threads + 1}")


def test_resume_with_another_input_run_is_refused(tmp_path: Path) -> None:
    imported = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", imported).exit_code == 0
    out = tmp_path / "run.txt"
    args = ["rerank", "--dataset", "dl19", "--corpus", f"{imported}.passages.jsonl", "--reranker", "identity", "--output", out]
    assert run_cli(*args, "--run", imported).exit_code == 0
    lines = imported.read_text().splitlines()
    shorter = tmp_path / "bm25-top50.txt"
    shorter.write_text("".join(line + "\n" for line in lines if int(line.split()[3]) <= 50))
    refused(run_cli(*args, "--run", shorter), f"run.txt: made from a different --run (was {imported}, now {shorter}): its content differs")
    overwritten = run_cli(*args, "--run", shorter, "--overwrite")
    assert overwritten.exit_code == 0 and max(len(c) for c in read_run(out).values()) == 50


@pytest.mark.parametrize("command", ["convert-run", "import-candidates"])
def test_another_positional_input_is_named_as_the_user_gave_it(command: str, tmp_path: Path) -> None:
    """The difference said "made from a different --run" (and "--candidates"): options these commands do not have."""
    import gzip

    out = tmp_path / "out.txt"
    if command == "import-candidates":
        first, second = DL19_CANDIDATES, tmp_path / "b.json"
        second.write_bytes(gzip.decompress(first.read_bytes()))  # the same candidates, other bytes
    else:
        first, second = REPO / "runs" / "dl19" / "run.dl19.bm25.txt", tmp_path / "b.txt"
        second.write_text("".join(first.read_text().splitlines(keepends=True)[:-1]))
    extra = ["--to", "msmarco"] if command == "convert-run" else []
    assert run_cli(command, first, *extra, "--output", out).exit_code == 0
    name = "run file" if command == "convert-run" else "candidate file"
    refused(run_cli(command, second, *extra, "--output", out), f"made from a different {name} (was {first}, now {second})")


def test_keeping_needs_every_output_and_the_same_arguments(tmp_path: Path) -> None:
    out = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out).exit_code == 0
    assert "skipping" in run_cli("import-candidates", DL19_CANDIDATES, "--output", out).stderr
    Path(f"{out}.passages.jsonl").unlink()  # a deleted passage store is made again, with the rest
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out).exit_code == 0
    assert Path(f"{out}.passages.jsonl").is_file()
    refused(run_cli("import-candidates", DL19_CANDIDATES, "--output", out, "--run-tag", "other"), "made with --run-tag candidates, now other")
    Path(f"{out}.provenance.json").unlink()
    refused(run_cli("import-candidates", DL19_CANDIDATES, "--output", out), "exists, but no record says what made it")


def test_retrieve_keeps_only_the_same_run(tmp_path: Path) -> None:
    corpus, out = tmp_path / "tiny", tmp_path / "run.txt"
    (corpus / "qrels").mkdir(parents=True)
    (corpus / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": f"statin cancer study {i}"}) + "\n" for i in range(30)))
    (corpus / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    base = ["retrieve", "--dataset", "tiny", "--corpus", corpus, "--topics", tmp_path / "topics.tsv", "--output", out]
    (tmp_path / "topics.tsv").write_text("q1\tstatin cancer\n")
    assert run_cli(*base, "--hits", "10").exit_code == 0
    assert "skipping" in run_cli(*base, "--hits", "10").stderr
    refused(run_cli(*base, "--hits", "20"), "run.txt: made with --hits 10, now 20")
    (tmp_path / "topics.tsv").write_text("q1\tcancer study\n")
    refused(run_cli(*base, "--hits", "10"), "made from a different --topics")


def test_an_encode_log_of_another_model_or_setting_is_refused_before_loading(tmp_path: Path) -> None:
    index = tmp_path / "index"
    made = encode_provenance(NFCORPUS, "mini", batch_size=64, threads=1)
    log = ResultsLog(shard_log(index / SHARDS_DIR / "encode", WHOLE), {"provenance": made.to_dict(), "shard": 0, "num": 1})
    (index / SHARDS_DIR).mkdir(parents=True)
    log.add({"position": 0, "files": {}})
    with pytest.raises(ResrankError, match=r"encode.partial.jsonl: made with batch_size 64, now 32; pass overwrite"):
        encode_step(NFCORPUS, "mini", index, batch_size=32, threads=1).run()
    with pytest.raises(ResrankError, match=r"made from a different model"):
        encode_step(NFCORPUS, BUNDLED_MODEL, index, batch_size=64, threads=1).run()


def test_training_resume_names_the_changed_key_or_input(tmp_path: Path) -> None:
    config = write_preset_train_config(tmp_path, "  - {name: align, steps: 2}\n  - {name: joint, steps: 2, lr: 0.0001}\n")
    data = tmp_path / "train.jsonl"
    Trainer(load_config(config))._start_fresh()
    Trainer(load_config(config))._check_same_config()
    with pytest.raises(ResrankError, match=r"out: made with training.batch_size 4, now 8; train into a new output_dir"):
        Trainer(load_config(config, ["training.batch_size=8"]))._check_same_config()
    with pytest.raises(ResrankError, match=r"made with stages.1.lr 0.0001, now 0.001"):
        Trainer(load_config(config, ["stages.1.lr=0.001"]))._check_same_config()
    data.write_text(data.read_text().replace('"x"', '"y"'))
    with pytest.raises(ResrankError, match=r"made from a different data.train .*: its content differs"):
        Trainer(load_config(config))._check_same_config()


def test_provenance_names_the_version_and_identifies_content_not_paths(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("same")
    (tmp_path / "b.txt").write_text("same")
    made = Provenance.of("rerank", {"top_k": 10}, {"run": tmp_path / "a.txt", "model": "mini", "topics": {"q": "text"}})
    moved = Provenance.of("rerank", {"top_k": 10}, {"run": tmp_path / "b.txt", "model": "mini", "topics": {"q": "text"}})
    assert made.difference(moved) is None, "the same bytes under another path are the same input"
    assert made.arguments["model"] == "mini", "a name that is no path is a plain argument"
    older = Provenance(made.command, made.arguments, made.inputs, made.sources, "0.0.1")
    assert made.difference(older) == f"made by resrank-eval 0.0.1, this is {made.version}"
    assert Provenance.from_dict(made.to_dict(), "x") == made
    with pytest.raises(ResrankError, match="not a provenance record"):
        made.check({"command": "rerank"}, "x")


def test_overwrite_starts_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", monkeypatch, top_k=100)
    done = rerank_cli(out, "identity", "--top-k", "5", "--overwrite")
    assert done.exit_code == 0, done.output
    first_stage = read_candidates(DL19_CANDIDATES).run
    assert all([c.docid for c in cands] == [c.docid for c in first_stage[q]] for q, cands in read_run(out).items())
    record = json.loads(Path(f"{out}.provenance.json").read_text())
    assert record["arguments"]["top_k"] == 5 and record["command"] == "rerank"
    assert set(record["outputs"]) == {"run.txt", "run.txt.stats.jsonl", "run.txt.summary.json"}


def test_a_job_that_fails_before_its_first_query_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run.txt"
    killed_rerank_at_once = pytest.raises(KeyboardInterrupt)
    data = read_candidates(DL19_CANDIDATES)
    step = rerank_step(reranker_factory("identity"), data.topics, data.run, data.passages, out, 10)
    monkeypatch.setattr(RerankerFactory, "build", lambda self: Killed(self.cls.name, 0))
    with killed_rerank_at_once:
        step.run()
    assert list(tmp_path.iterdir()) == []
