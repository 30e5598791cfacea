"""Issue 11, case 1: resuming and skip-if-exists are keyed on what produced the output.

A changed argument, model or input is refused with one line naming it (before any model loads);
the same command resumes or skips; ``--overwrite`` starts over. Covers rerank (partial file and
finished outputs), retrieve, import-candidates (a deleted passage store is rewritten), encode's
shards and training.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.trec import read_run
from resrank_eval.model.manifest import write_manifest
from resrank_eval.model.sources import BUNDLED_MODEL
from resrank_eval.provenance import Provenance, record_path
from resrank_eval.rerank import Reranked, RunSink
from resrank_eval.rerank.registry import reranker_arguments
from resrank_eval.retrieve.dense import RECORD_FILE, SHARDS_DIR, dense_index_done, encode_provenance
from resrank_eval.train.config import load_config
from resrank_eval.train.trainer import Trainer
from resrank_eval.types import Candidate, QueryStats

from .conftest import DL19_CANDIDATES, NFCORPUS


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("Error: ") and "--overwrite" in line, result.stderr
    for fragment in fragments:
        assert fragment in line, line


def killed_rerank(out: Path, reranker: str, model: Path | None = None, top_k: int = 100) -> None:
    """The state a rerank of the DL19 candidates leaves when killed after its first query (no model needed to make it)."""
    data = read_candidates(DL19_CANDIDATES)
    options = reranker_arguments(reranker, model=str(model) if model else None)[1]
    sink = RunSink(out, reranker, options=options, inputs={"candidates": DL19_CANDIDATES})
    sink.start(sink.provenance(data.topics, data.run, top_k, 1))
    qid = next(iter(data.run))
    sink.add(qid, Reranked(data.run[qid][:top_k], QueryStats(qid, reranker, top_k)))


def rerank_cli(out: Path, reranker: str, *extra: str | Path) -> Result:
    return run_cli("rerank", "--dataset", "dl19", "--candidates", DL19_CANDIDATES, "--reranker", reranker, "--output", out, *extra)


def test_case1_resume_after_changing_top_k_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", top_k=100)
    refused(rerank_cli(out, "identity", "--top-k", "20"), "run.txt.partial.jsonl: made with --top-k 100, now 20")
    assert not out.exists()
    resumed = rerank_cli(out, "identity")  # the same arguments resume: 42 queries to go
    assert resumed.exit_code == 0, resumed.output
    assert len(read_run(out)) == 43 and not Path(f"{out}.partial.jsonl").exists()


def test_case1_resume_with_another_model_is_refused_before_loading(tmp_path: Path) -> None:
    first, other = tmp_path / "first", tmp_path / "other"
    shutil.copytree(BUNDLED_MODEL, first)
    shutil.copytree(BUNDLED_MODEL, other)
    config = json.loads((other / "resrank.json").read_text())
    (other / "resrank.json").write_text(json.dumps({**config, "score_scale": 20.0}))
    write_manifest(other)  # another model, whole (not the bundled one with an edited config, which its manifest refuses)
    out = tmp_path / "run.txt"
    killed_rerank(out, "encoder", model=first)
    refused(rerank_cli(out, "encoder", "--model", other), "made from a different --model", f"(was {first}, now {other})")


def test_case1_resume_with_another_input_run_is_refused(tmp_path: Path) -> None:
    imported = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", imported).exit_code == 0
    out = tmp_path / "run.txt"
    args = ["rerank", "--dataset", "dl19", "--corpus", f"{imported}.passages.jsonl", "--reranker", "identity", "--output", out]
    assert run_cli(*args, "--run", imported).exit_code == 0
    lines = imported.read_text().splitlines()
    shorter = tmp_path / "bm25-top50.txt"
    shorter.write_text("".join(line + "\n" for line in lines if int(line.split()[3]) <= 50))
    refused(run_cli(*args, "--run", shorter), "run.txt: made from a different --run: its content differs")
    overwritten = run_cli(*args, "--run", shorter, "--overwrite")
    assert overwritten.exit_code == 0 and max(len(c) for c in read_run(out).values()) == 50


def test_case1_skip_needs_every_output_and_the_same_arguments(tmp_path: Path) -> None:
    out = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out).exit_code == 0
    assert "skipping" in run_cli("import-candidates", DL19_CANDIDATES, "--output", out).stderr
    Path(f"{out}.passages.jsonl").unlink()  # a deleted passage store is made again, with the rest
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out).exit_code == 0
    assert Path(f"{out}.passages.jsonl").is_file()
    refused(run_cli("import-candidates", DL19_CANDIDATES, "--output", out, "--tag", "other"), "made with --tag candidates, now other")
    record_path(out).unlink()
    refused(run_cli("import-candidates", DL19_CANDIDATES, "--output", out), "exists without a provenance record")


def test_case1_retrieve_skips_only_the_same_run(tmp_path: Path) -> None:
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


def test_case1_encode_shards_of_another_model_are_refused(tmp_path: Path) -> None:
    index = tmp_path / "index"
    (index / SHARDS_DIR).mkdir(parents=True)
    made = encode_provenance(NFCORPUS, "mini", batch_size=64)
    (index / SHARDS_DIR / RECORD_FILE).write_text(json.dumps(made.to_dict()))
    (index / SHARDS_DIR / "00000.npy").write_bytes(b"")
    assert dense_index_done(index, made) is False  # the same settings resume the shards
    with pytest.raises(ResrankError, match=r"shards: made with --batch-size 64, now 32; pass --overwrite"):
        dense_index_done(index, encode_provenance(NFCORPUS, "mini", batch_size=32))
    with pytest.raises(ResrankError, match=r"made from a different --model"):
        dense_index_done(index, encode_provenance(NFCORPUS, BUNDLED_MODEL, batch_size=64))
    assert dense_index_done(index, encode_provenance(NFCORPUS, BUNDLED_MODEL), overwrite=True) is False
    assert not (index / SHARDS_DIR).exists()


def test_case1_training_resume_names_the_changed_key_or_input(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"qid": "q", "query": "x", "candidates": [{"docid": "a", "text": "t", "label": 1}, '
                    '{"docid": "b", "text": "u", "label": 0}]}\n')
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{preset: mini}}\ndata: {{train: {data}}}\n"
                      "stages:\n  - {name: align, steps: 2}\n  - {name: joint, steps: 2, lr: 0.0001}\n")
    Trainer(load_config(config))._start_fresh()
    Trainer(load_config(config))._check_same_config()
    with pytest.raises(ResrankError, match=r"out: made with training.batch_size 4, now 8; pass --overwrite"):
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


def test_overwrite_starts_over(tmp_path: Path) -> None:
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", top_k=100)
    done = rerank_cli(out, "identity", "--top-k", "5", "--overwrite")
    assert done.exit_code == 0, done.output
    first_stage = read_candidates(DL19_CANDIDATES).run
    assert all([c.docid for c in cands] == [c.docid for c in first_stage[q]] for q, cands in read_run(out).items())
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["provenance"]["arguments"]["top_k"] == 5 and summary["provenance"]["command"] == "rerank"


def test_a_job_that_fails_before_its_first_query_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "run.txt"
    data = read_candidates(DL19_CANDIDATES)
    sink = RunSink(out, "identity")
    sink.start(sink.provenance(data.topics, data.run, 10, 1))
    assert not Path(f"{out}.partial.jsonl").exists()
    qid = next(iter(data.run))
    sink.add(qid, Reranked([Candidate("d", 1.0)], QueryStats(qid, "identity", 1)))
    header = json.loads(Path(f"{out}.partial.jsonl").read_text().splitlines()[0])
    assert header["provenance"]["arguments"]["top_k"] == 10
