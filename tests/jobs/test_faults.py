"""The fault suite: every way an output, a resume log, an index, a checkpoint or an argument can be wrong.

Each family the probe found: an output truncated, edited or missing after it was made; a tampered resume
log; a dense index whose vectors or docids changed; a crafted checkpoint; a name that escapes the output
folder; two processes on one output; and the mistakes that used to fail late or silently. Nothing here may
exit 0 with a wrong number, and no command may delete a file it did not make in that call. Real files,
real commands (in this process, or in a subprocess where a process boundary is the point).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.formats.results_log import ResultsLog
from resrank_eval.formats.trec import read_run
from resrank_eval.jobs import locked
from resrank_eval.model.sources import BUNDLED_MODEL, BUNDLED_NFCORPUS_INDEX
from resrank_eval.rerank import RerankerFactory
from resrank_eval.train.checkpoint import STATE_FILE, TENSORS_FILE
from resrank_eval.train.trainer import Trainer
from tests.helpers import DL19_CANDIDATES, REPO, cranfield_beir, killed_rerank, tiny_beir, write_preset_train_config

PACKAGE = REPO / "resrank_eval"


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result: Result, *fragments: str) -> str:
    """Exit 2 and one ``Error:`` line holding every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but lock files) and its bytes: what a refusal must leave exactly as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture
def dl19(tmp_path: Path) -> Path:
    """The bundled DL19 candidates imported as a run and a passage store."""
    run = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", run).exit_code == 0
    return run


def rerank_args(dl19: Path, out: Path, *extra: str | Path) -> list[str | Path]:
    return ["rerank", "--dataset", "dl19", "--run", dl19, "--corpus", f"{dl19}.passages.jsonl", "--reranker", "identity",
            "--top-k", "10", "--output", out, *extra]


# -- outputs edited, truncated or missing after they were made ---------------------------------------------------------


@pytest.mark.parametrize("edit", ["truncate", "same-size", "append"])
def test_an_output_changed_since_it_was_made_is_refused_by_name(dl19: Path, tmp_path: Path, edit: str) -> None:
    out = tmp_path / "identity.txt"
    assert run_cli(*rerank_args(dl19, out)).exit_code == 0
    data = out.read_bytes()
    changed = {"truncate": data[: len(data) // 2], "same-size": data.replace(b" identity", b" identitx", 1), "append": data + data[:60]}
    out.write_bytes(changed[edit])
    before = snapshot(tmp_path)
    refused(run_cli(*rerank_args(dl19, out)), "identity.txt: changed since it was made", "--overwrite")
    assert snapshot(tmp_path) == before, "a refusal changes nothing"
    assert run_cli(*rerank_args(dl19, out, "--overwrite")).exit_code == 0 and out.read_bytes() == data


@pytest.mark.parametrize("lost", [".stats.jsonl", ".summary.json", ""])
def test_a_missing_output_is_made_again_and_nothing_is_deleted(dl19: Path, tmp_path: Path, lost: str) -> None:
    """The probe's data loss: deleting a finished rerank's stats made the same command delete its summary and refuse."""
    out = tmp_path / "identity.txt"
    assert run_cli(*rerank_args(dl19, out)).exit_code == 0
    run = out.read_bytes()
    Path(f"{out}{lost}").unlink()
    again = run_cli(*rerank_args(dl19, out))
    assert again.exit_code == 0, again.output
    assert "missing; making the outputs" in again.output
    assert all(Path(f"{out}{suffix}").is_file() for suffix in ("", ".stats.jsonl", ".summary.json", ".provenance.json"))
    assert out.read_bytes() == run
    assert "skipping" in run_cli(*rerank_args(dl19, out)).output


def test_a_run_deleted_under_a_kept_record_is_made_again(tmp_path: Path) -> None:
    out = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out).exit_code == 0
    made = out.read_bytes()
    out.unlink()
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out).exit_code == 0 and out.read_bytes() == made


@pytest.mark.parametrize("command", ["fuse", "convert-run"])
def test_a_lone_output_deleted_under_its_record_is_made_again_and_named(dl19: Path, command: str) -> None:
    """docs/jobs.md: a missing output is made again "and says which was missing"; a step with one output (no other file
    left beside its record) remade it without a word."""
    out = dl19.with_name("out.txt")
    arguments = [command, dl19, *([shutil.copy(dl19, dl19.with_name("other.txt"))] if command == "fuse" else ["--to", "trec"])]
    assert run_cli(*arguments, "--output", out).exit_code == 0
    made = out.read_bytes()
    out.unlink()
    again = run_cli(*arguments, "--output", out)
    assert again.exit_code == 0 and "out.txt: missing; making the outputs of out.txt.provenance.json again" in again.output, again.output
    assert out.read_bytes() == made


@pytest.mark.parametrize("option", ["--topics-output", "--passages"])
def test_an_output_asked_for_at_a_new_path_is_made(tmp_path: Path, option: str) -> None:
    """The probe's silent skip: the same import with ``--topics-output`` (or ``--passages``) at another path said
    "skipping" with exit 0 and never wrote the file asked for."""
    out = tmp_path / "bm25.txt"
    assert run_cli("import-candidates", DL19_CANDIDATES, "--output", out, option, tmp_path / "first").exit_code == 0
    again = run_cli("import-candidates", DL19_CANDIDATES, "--output", out, option, tmp_path / "second")
    assert again.exit_code == 0 and "second: missing; making the outputs" in again.output, again.output
    assert (tmp_path / "second").read_bytes() == (tmp_path / "first").read_bytes()


@pytest.mark.parametrize("command", ["fuse", "convert-run"])
def test_an_output_that_is_also_an_input_is_refused(dl19: Path, command: str) -> None:
    """The probe's ``fuse in.txt other.txt --output in.txt --overwrite``: the input replaced by its own fusion."""
    before = dl19.read_bytes()
    shutil.copy(dl19, dl19.with_name("other.txt"))
    arguments = [dl19, dl19.with_name("other.txt")] if command == "fuse" else [dl19, "--to", "trec"]
    line = refused(run_cli(command, *arguments, "--output", dl19, "--overwrite"), "bm25.txt: is also an input of this command")
    assert "--run" not in line  # convert-run's RUN is an argument, not an option (the message named it --run)
    assert dl19.read_bytes() == before


@pytest.mark.parametrize(("option", "name"), [("--passages", "run.txt"), ("--topics-output", "run.txt.passages.jsonl"),
                                              ("--passages", "run.txt.provenance.json"), ("--topics-output", "link.tsv")])
def test_two_outputs_named_as_one_file_are_refused_before_anything_is_written(tmp_path: Path, option: str, name: str) -> None:
    """Probe: ``import-candidates --output run.txt --passages run.txt`` said it wrote both, exit 0, and left the run alone
    (the passage store lost); named as the record, the store was written over by the record."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "link.tsv").symlink_to(out / "run.txt")
    refused(run_cli("import-candidates", DL19_CANDIDATES, "--output", out / "run.txt", option, out / name),
            f"{out / name}: named for two outputs of this command")
    assert sorted(p.name for p in out.iterdir()) == ["link.tsv"]


READS = ["rerank --run", "rerank --topics", "retrieve --topics", "export-candidates --topics", "evaluate RUN", "evaluate --qrels",
         "build-train --candidates", "report RUN"]


@pytest.mark.parametrize("command", READS)
def test_no_command_writes_over_a_file_it_reads(dl19: Path, tmp_path: Path, command: str) -> None:
    """The probe's ``rerank --run X --output X --overwrite`` and ``evaluate X --output X`` replaced the run they read, exit
    0: a run or topics read into memory, and every input of a command that is no step, went unchecked. One check, every
    file read: nothing is written."""
    passages = f"{dl19}.passages.jsonl"
    topics, qrels = (Path(shutil.copy(REPO / "qrels" / name, tmp_path)) for name in ("topics.dl19-passage.txt", "qrels.dl19-passage.txt"))
    candidates = Path(shutil.copy(DL19_CANDIDATES, tmp_path))
    named_report = tmp_path / "runs" / "report.csv"  # a run a report reads, where it writes its table
    named_report.parent.mkdir()
    shutil.copy(dl19, named_report)
    corpus, cats = tiny_beir(tmp_path / "tiny", {"d1": "cats purr", "d2": "dogs bark"}, "cats"), tmp_path / "cats.tsv"
    cats.write_text("q1\tcats\n")
    read, line = {
        "rerank --run": (dl19, rerank_args(dl19, dl19, "--overwrite")),
        "rerank --topics": (topics, rerank_args(dl19, topics, "--topics", topics, "--overwrite")),
        "retrieve --topics": (cats, ["retrieve", "--dataset", "tiny", "--corpus", corpus, "--topics", cats, "--output", cats,
                                     "--overwrite"]),
        "export-candidates --topics": (topics, ["export-candidates", "--topics", topics, "--run", dl19, "--corpus", passages,
                                                "--output", topics, "--overwrite"]),
        "evaluate RUN": (dl19, ["evaluate", "--dataset", "dl19", dl19, "--output", dl19]),
        "evaluate --qrels": (qrels, ["evaluate", "--dataset", "dl19", dl19, "--qrels", qrels, "--output", qrels]),
        "build-train --candidates": (candidates, ["build-train", "--candidates", candidates, "--output", candidates]),
        "report RUN": (named_report, ["report", named_report, "--dataset", "dl19", "--output", named_report.parent]),
    }[command]
    before = snapshot(tmp_path)
    refused(run_cli(*line), f"{read}: is also an input of this command")
    assert snapshot(tmp_path) == before


def test_a_folder_where_a_step_writes_a_file_is_refused_before_anything_is_written(dl19: Path, tmp_path: Path) -> None:
    """A folder named as a rerank's stats file failed at its hidden temp file (``.out.txt.stats.jsonl.<hex>.tmp: Is a
    directory``) after the run had been written and the record marked "making"."""
    out = tmp_path / "out" / "identity.txt"
    (tmp_path / "out" / "identity.txt.stats.jsonl").mkdir(parents=True)
    before = snapshot(tmp_path)
    refused(run_cli(*rerank_args(dl19, out, "--overwrite")), f"{out}.stats.jsonl: a folder, where this command writes a file")
    assert snapshot(tmp_path) == before and sorted(p.name for p in out.parent.iterdir()) == ["identity.txt.stats.jsonl"]


@pytest.mark.parametrize("command", ["index --index CORPUS", "rerank --corpus", "evaluate --corpus"])
def test_no_command_writes_over_a_folder_it_reads(tmp_path: Path, command: str) -> None:
    """``index --corpus DIR --index DIR --overwrite`` (the line "exists, but no record says what made it; pass --overwrite"
    asks for) replaced the BEIR folder by the index, corpus, queries and qrels deleted; ``rerank --corpus DIR --output
    DIR/corpus.jsonl --overwrite`` wrote the run over the corpus; ``evaluate --corpus DIR RUN --output DIR/qrels/test.tsv``
    wrote the table over the qrels it scored with. All exited 0."""
    corpus = tiny_beir(tmp_path / "tiny", {"d1": "cats purr", "d2": "dogs bark"}, "cats")
    first = tmp_path / "first.txt"
    first.write_text("q1 Q0 d1 1 2.0 bm25\nq1 Q0 d2 2 1.0 bm25\n")
    fragment, line = {
        "index --index CORPUS": (f"{corpus}: holds {corpus / 'corpus.jsonl'}, an input of this command",
                                 ["index", "--dataset", "tiny", "--corpus", corpus, "--index", corpus, "--overwrite"]),
        "rerank --corpus": (f"{corpus / 'corpus.jsonl'}: is also an input of this command",
                            ["rerank", "--dataset", "tiny", "--corpus", corpus, "--run", first, "--reranker", "identity",
                             "--output", corpus / "corpus.jsonl", "--overwrite"]),
        "evaluate --corpus": (f"{corpus / 'qrels' / 'test.tsv'}: is also an input of this command",  # the dataset's qrels
                              ["evaluate", "--dataset", "tiny", "--corpus", corpus, first, "--output", corpus / "qrels" / "test.tsv"]),
    }[command]
    before = snapshot(tmp_path)
    refused(run_cli(*line), fragment)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["relative", "symlink", "hard link"])
def test_an_input_is_known_by_any_of_its_names(dl19: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``--output`` naming the ``--run`` file another way is the same file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    other = {"relative": Path("sub/../bm25.txt"), "symlink": tmp_path / "link.txt", "hard link": tmp_path / "hard.txt"}[name]
    if name == "symlink":
        other.symlink_to(dl19)
    elif name == "hard link":
        os.link(dl19, other)
    before = snapshot(tmp_path)
    refused(run_cli(*rerank_args(Path("bm25.txt"), other, "--overwrite")), f"{other}: is also an input of this command")
    assert snapshot(tmp_path) == before


def test_a_refused_command_leaves_every_file_as_it_was(dl19: Path, tmp_path: Path) -> None:
    out = tmp_path / "identity.txt"
    assert run_cli(*rerank_args(dl19, out)).exit_code == 0
    before = snapshot(tmp_path)
    refused(run_cli(*rerank_args(dl19, out, "--batch-size", "2")), "made with --batch-size 1, now 2")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["import-candidates", "convert-run", "fuse"])
def test_an_overwrite_refused_by_its_input_leaves_the_outputs_and_their_record(tmp_path: Path, command: str) -> None:
    """Probe: the "making" record was written before the input was read, and left: the outputs, untouched, were then refused
    as made from the input that was refused."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    if command == "import-candidates":
        good.write_text(json.dumps([{"query": "q", "hits": [{"content": "a", "qid": "q1", "docid": "d1", "rank": 1, "score": 2.0}]}]))
        bad.write_text(json.dumps([{"query": "q", "hits": [{"content": "a", "qid": "q1", "docid": "d1", "rank": 1}]}]))
    else:
        good.write_text("q1 Q0 d1 1 2.0 t\n")
        bad.write_text("\n")
    arguments = {"import-candidates": [], "convert-run": ["--to", "trec"], "fuse": [good]}[command]
    out = tmp_path / "out" / "run.txt"
    assert run_cli(command, good, *arguments, "--output", out).exit_code == 0
    before = snapshot(tmp_path / "out")
    refused(run_cli(command, bad, *arguments, "--output", out, "--overwrite"), str(bad))
    assert snapshot(tmp_path / "out") == before
    assert "skipping" in run_cli(command, good, *arguments, "--output", out).output


GRID = """\
output: {output}
baseline: bm25
datasets:
  - name: dl19
    first_stages: {{bm25: "{candidates}"}}
conditions:
  - name: bm25
    first_stage: {{method: bm25}}
  - name: bm25.identity
    first_stage: bm25
    rerank: {{reranker: identity, top_k: 20, batch_size: 8}}
  - name: rrf
    first_stage: {{method: fusion, runs: [bm25, bm25.identity], fusion: rrf, depth: 100}}
expected:
"""


def grid_file(folder: Path, **changes: str) -> Path:
    path = folder / "grid.yaml"
    text = GRID.format(output=folder / "runs", candidates=DL19_CANDIDATES)
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_a_grid_refuses_a_truncated_run_instead_of_scoring_it(tmp_path: Path) -> None:
    """The probe's fused row printed 0.1564 for 0.3802 with exit 0: a cell's outputs are checked before it is kept."""
    grid = grid_file(tmp_path)
    first = run_cli("reproduce", grid, "--resamples", "100")
    assert first.exit_code == 0, first.output
    fused = tmp_path / "runs" / "dl19" / "run.dl19.rrf.txt"
    fused.write_bytes(fused.read_bytes()[: fused.stat().st_size // 3])
    refused(run_cli("reproduce", grid, "--resamples", "100"), "run.dl19.rrf.txt: changed since it was made")
    again = run_cli("reproduce", grid, "--resamples", "100", "--conditions", "rrf", "--overwrite")
    assert again.exit_code == 0 and "rrf on dl19: " in again.output


# -- a tampered resume log -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tamper", "line"), [("edit", 3), ("nan", 3), ("delete", 3), ("swap", 3), ("duplicate", 4)])
def test_a_tampered_resume_log_is_refused_at_its_line(dl19: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: str,
                                                      line: int) -> None:
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", monkeypatch, after=4)
    partial = Path(f"{out}.partial.jsonl")
    lines = partial.read_text().splitlines(keepends=True)
    assert len(lines) == 5  # the header and 4 queries
    if tamper == "edit":
        unit = json.loads(lines[2])
        unit["ranking"][0], unit["ranking"][1] = unit["ranking"][1], unit["ranking"][0]
        lines[2] = json.dumps(unit) + "\n"
    elif tamper == "nan":  # a number _append never writes (the probe's "Out of range float values" naming no file)
        lines[2] = re.sub(r'(\[\[\"[^"]+\", )[-0-9.e]+', r"\1NaN", lines[2], count=1)
    elif tamper == "delete":
        del lines[2]
    elif tamper == "swap":
        lines[2], lines[3] = lines[3], lines[2]
    else:
        lines.insert(3, lines[2])
    partial.write_text("".join(lines))
    result = run_cli("rerank", "--dataset", "dl19", "--candidates", DL19_CANDIDATES, "--reranker", "identity", "--output", out)
    refused(result, f"run.txt.partial.jsonl:{line}: changed after it was written")
    assert not out.exists()


FORGERIES = {
    "cut": lambda h, u: u[1].update(ranking=u[1]["ranking"][:3]),
    "foreign docid": lambda h, u: u[1]["ranking"][0].__setitem__(0, "FORGED"),
    "unknown query": lambda h, u: u[1].update(qid="nope"),
    "moved": lambda h, u: u[1].update(position=7),
    "twice": lambda h, u: u.insert(2, dict(u[1])),
    "no ranking": lambda h, u: u[1].pop("ranking"),
    "no stats": lambda h, u: u[1].update(stats=None),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_resume_log_with_a_recomputed_chain_is_still_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forgery: str) -> None:
    """The probe re-linked the chain after editing units: a cut or foreign ranking reached the run with exit 0, a unit
    without its ranking or stats ended in an internal error after every query was reranked."""
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", monkeypatch, after=4)
    partial = Path(f"{out}.partial.jsonl")
    header, *units = [{k: v for k, v in json.loads(line).items() if k != "#"} for line in partial.read_text().splitlines()]
    FORGERIES[forgery](header, units)
    partial.unlink()
    forged = ResultsLog(out, header)
    for unit in units:
        forged.add(unit)
    result = run_cli("rerank", "--dataset", "dl19", "--candidates", DL19_CANDIDATES, "--reranker", "identity", "--output", out)
    refused(result, f"run.txt.partial.jsonl:{3 if forgery != 'twice' else 4}: not a unit this job logs")
    assert not out.exists()


@pytest.mark.parametrize("header", [{}, {"shard": "a"}, {"num": 0}])
def test_a_resume_log_header_of_another_shape_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: dict) -> None:
    out = tmp_path / "run.txt"
    killed_rerank(out, "identity", monkeypatch, after=2)
    partial = Path(f"{out}.partial.jsonl")
    first, *units = [{k: v for k, v in json.loads(line).items() if k != "#"} for line in partial.read_text().splitlines()]
    partial.unlink()
    forged = ResultsLog(out, {**first, **header} if header else {})
    for unit in units:
        forged.add(unit)
    result = run_cli("rerank", "--dataset", "dl19", "--candidates", DL19_CANDIDATES, "--reranker", "identity", "--output", out)
    refused(result, "run.txt.partial.jsonl")
    assert not out.exists()


# -- a dense index whose files changed -----------------------------------------------------------------------------


@pytest.fixture
def index_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(BUNDLED_NFCORPUS_INDEX, copy)
    return copy


@pytest.mark.parametrize("change", ["zeroed vectors", "shifted docids"])
def test_a_dense_index_whose_files_changed_is_refused(index_copy: Path, tmp_path: Path, change: str) -> None:
    """Zeroed vectors gave an all-zero rerank (BM25's order) with exit 0; a docid list shifted by one line misaligned every vector."""
    import numpy as np

    if change == "zeroed vectors":
        vectors = np.load(index_copy / "vectors.npy")
        np.save(index_copy / "vectors.npy", np.zeros_like(vectors))
        name = "vectors.npy"
    else:
        docids = (index_copy / "docid").read_text().splitlines()
        (index_copy / "docid").write_text("\n".join(docids[1:] + docids[:1]) + "\n")
        name = "docid"
    run = tmp_path / "run.txt"
    run.write_text("PLAIN-1 Q0 MED-2421 1 2.0 bm25\nPLAIN-1 Q0 MED-2422 2 1.0 bm25\n")
    result = run_cli("rerank", "--dataset", "beir/nfcorpus", "--split", "dev", "--run", run, "--reranker", "encoder",
                     "--model", BUNDLED_MODEL, "--dense-index", index_copy, "--output", tmp_path / "out.txt")
    refused(result, f"{name}: changed since it was made", "encode it again")
    assert not (tmp_path / "out.txt").exists()


def test_a_folder_read_whole_refuses_a_missing_file(index_copy: Path, tmp_path: Path) -> None:
    """A dense index, a checkpoint and a folder a step made are read whole: a file their record lists, gone, is refused by
    name, with the reader's remedy (where a step's outputs are kept or merged, a missing one is made again instead)."""
    import torch

    from resrank_eval.errors import ResrankError
    from resrank_eval.jobs import Outputs, Step, check_made, verify
    from resrank_eval.provenance import Provenance
    from resrank_eval.retrieve.dense import check_dense_index
    from resrank_eval.train.checkpoint import load_latest, save_checkpoint

    (index_copy / "docid").unlink()
    with pytest.raises(ResrankError, match=re.escape(f"{index_copy / 'docid'}: missing; encode it again")):
        check_dense_index(index_copy)
    (save_checkpoint(tmp_path / "ckpt", 3, {"w": torch.ones(2)}, keep=1) / TENSORS_FILE).unlink()
    with pytest.raises(ResrankError, match=re.escape(f"{TENSORS_FILE}: missing; delete {tmp_path / 'ckpt' / 'step-0000003'} to resume")):
        load_latest(tmp_path / "ckpt")
    folder = tmp_path / "made"
    outputs = Outputs.folder(folder, "a", "b")
    Step(Provenance.of("test", {}), outputs, lambda: [(folder / name).write_text(name) for name in ("a", "b")]).run()
    (folder / "b").unlink()
    assert verify(outputs) == [folder / "b"]
    for check in (lambda: verify(outputs, "redo", missing_ok=False), lambda: check_made(folder)):
        with pytest.raises(ResrankError, match=re.escape(f"{folder / 'b'}: missing; ")):
            check()


def test_an_unreadable_faiss_file_is_one_line(tmp_path: Path) -> None:
    """An empty FAISS ``index`` file was an internal error: now its size differs from the record, and a file the record
    agrees with that FAISS cannot read is named too."""
    from resrank_eval.datasets.registry import get_dataset
    from resrank_eval.jobs import Outputs, seal
    from resrank_eval.provenance import Provenance
    from resrank_eval.retrieve.dense import iter_dense_retrieve

    index = tmp_path / "index"
    shutil.copytree(BUNDLED_NFCORPUS_INDEX, index)
    (index / "index").write_bytes(b"")
    seal(Provenance.of("test", {}), Outputs.folder(index, "index", "docid", "vectors.npy", "encoder.json"))
    topics = dict(list(get_dataset("beir/nfcorpus").topics().items())[:2])
    with pytest.raises(Exception, match=r"index/index: not a readable FAISS index") as raised:
        next(iter_dense_retrieve(index, BUNDLED_MODEL, topics, hits=5))
    assert "\n" not in str(raised.value)


# -- records and manifests of another shape, and records that list too little ------------------------------------------


def with_outputs(record: Path, outputs: object) -> None:
    """``record`` (a step's, a checkpoint's ``state.json``) with its ``outputs`` replaced."""
    record.write_text(json.dumps({**json.loads(record.read_text()), "outputs": outputs}))


SHAPES = {"a list": ([], "outputs: expected a mapping"), "a number": ({"x": 5}, "outputs.x: expected a mapping"),
          "no size": ({"identity.txt": {"sha256": "ab"}}, "missing key 'outputs.identity.txt.size'"),
          "a negative size": ({"identity.txt": {"size": -1, "sha256": "ab"}}, "outputs.identity.txt.size: expected >= 0")}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_record_of_another_shape_is_one_line(dl19: Path, tmp_path: Path, shape: str) -> None:
    """The probe's ``"outputs": []`` was an internal error (AttributeError, exit 1) for every command reading the record."""
    out = tmp_path / "identity.txt"
    assert run_cli(*rerank_args(dl19, out)).exit_code == 0
    outputs, error = SHAPES[shape]
    with_outputs(Path(f"{out}.provenance.json"), outputs)
    before = snapshot(tmp_path)
    refused(run_cli(*rerank_args(dl19, out)), f"identity.txt.provenance.json: {error}")
    refused(run_cli("evaluate", "--dataset", "dl19", out), f"identity.txt.provenance.json: {error}")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("shape", ["a list", "a number"])
def test_the_demo_refuses_a_record_of_another_shape(tmp_path: Path, shape: str) -> None:
    from resrank_eval.datasets.registry import get_dataset
    from resrank_eval.demo import DATASET
    from resrank_eval.formats.trec import run_file_name
    from resrank_eval.retrieve import retrieve_step

    bm25 = tmp_path / run_file_name(DATASET, "bm25-flat")
    retrieve_step(bm25, get_dataset(DATASET), "bm25", hits=1000, threads=2).run()  # the demo's first step, as it runs it
    outputs, error = SHAPES[shape]
    with_outputs(Path(f"{bm25}.provenance.json"), outputs)
    refused(run_cli("demo", "--output", tmp_path), f"{bm25.name}.provenance.json: {error}")


def test_a_record_that_does_not_list_an_output_keeps_nothing(dl19: Path, tmp_path: Path) -> None:
    """The probe's ``"outputs": {}`` vouched for everything: an edited run was kept ("skipping", exit 0) and scored."""
    out = tmp_path / "identity.txt"
    assert run_cli(*rerank_args(dl19, out)).exit_code == 0
    record = Path(f"{out}.provenance.json")
    made, run = json.loads(record.read_text())["outputs"], out.read_bytes()
    with_outputs(record, {})
    out.write_bytes(run.replace(b" identity", b" identitx", 1))
    before = snapshot(tmp_path)
    refused(run_cli(*rerank_args(dl19, out)), "identity.txt: exists, but identity.txt.provenance.json does not list it", "--overwrite")
    refused(run_cli("evaluate", "--dataset", "dl19", out), "identity.txt: exists, but identity.txt.provenance.json does not list it")
    assert snapshot(tmp_path) == before
    out.write_bytes(run)
    with_outputs(record, {k: v for k, v in made.items() if not k.endswith(".stats.jsonl")})  # the costs the report prints
    refused(run_cli("report", "--dataset", "dl19", out), "identity.txt.stats.jsonl: exists, but identity.txt.provenance.json does not list it")


def test_a_training_record_that_lists_none_of_its_models_is_refused(tiny_train_config: Path) -> None:
    """``"outputs": {}`` in a finished training's record kept whatever ``final/`` held: "not trained again", exit 0."""
    from resrank_eval.train.config import load_config

    config = load_config(tiny_train_config)
    final = Path(config.output_dir) / "final"
    final.mkdir(parents=True)
    (final / "head.safetensors").write_bytes(b"not the trained head")
    (final.parent / "provenance.json").write_text(json.dumps({**config.provenance().to_dict(), "outputs": {}}))
    refused(run_cli("train", "--config", tiny_train_config), "final: exists, but provenance.json lists none of its files")


@pytest.mark.parametrize(("outputs", "error"), [([], "state.json: outputs: expected a mapping"),
                                                ({TENSORS_FILE: 5}, f"state.json: outputs.{TENSORS_FILE}: expected a mapping"),
                                                ({}, f"{TENSORS_FILE}: exists, but state.json does not list it")])
def test_a_checkpoint_record_of_another_shape_or_listing_nothing_is_refused(tmp_path: Path, outputs: object, error: str) -> None:
    """What ``train --resume`` loads: a malformed ``state.json`` was an internal error, one listing nothing let the
    checkpoint load unchecked."""
    import torch

    from resrank_eval.errors import ResrankError
    from resrank_eval.train.checkpoint import load_latest, save_checkpoint

    folder = save_checkpoint(tmp_path / "checkpoints", 2, {"step": 2, "model": {"w": torch.ones(3)}}, keep=1)
    with_outputs(folder / STATE_FILE, outputs)
    with pytest.raises(ResrankError, match=re.escape(error)) as raised:
        load_latest(tmp_path / "checkpoints")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(("outputs", "error"), [([], "provenance.json: outputs: expected a mapping"),
                                                ({"docid": 5}, "provenance.json: outputs.docid: expected a mapping"),
                                                ({}, "docid: exists, but provenance.json does not list it")])
def test_a_dense_index_record_of_another_shape_or_listing_nothing_is_refused(index_copy: Path, tmp_path: Path, outputs: object,
                                                                             error: str) -> None:
    with_outputs(index_copy / "provenance.json", outputs)
    run = tmp_path / "run.txt"
    run.write_text("PLAIN-1 Q0 MED-2421 1 2.0 bm25\nPLAIN-1 Q0 MED-2422 2 1.0 bm25\n")
    result = run_cli("rerank", "--dataset", "beir/nfcorpus", "--split", "dev", "--run", run, "--reranker", "encoder",
                     "--model", BUNDLED_MODEL, "--dense-index", index_copy, "--output", tmp_path / "out.txt")
    refused(result, f"index/{error}")
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(("manifest", "error"), [([], "not a model manifest"),
                                                 ({"files": {"head.safetensors": 5}}, "files.head.safetensors: expected a mapping"),
                                                 ({"files": {"head.safetensors": {"size": "big", "sha256": "ab"}}},
                                                  "files.head.safetensors.size: expected an integer")])
def test_a_manifest_of_another_shape_is_one_line(dl19: Path, tmp_path: Path, manifest: object, error: str) -> None:
    """The probe's manifest of ``[]`` or ``{"files": {"head.safetensors": 5}}``: AttributeError, exit 1."""
    model = Path(shutil.copytree(BUNDLED_MODEL, tmp_path / "model"))
    (model / "manifest.json").write_text(json.dumps(manifest))
    refused(run_cli(*rerank_args(dl19, tmp_path / "out.txt", "--reranker", "resrank", "--model", model)), f"model/manifest.json: {error}")
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize("bundled", [False, True])
def test_a_model_folder_without_its_manifest_is_refused(dl19: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        bundled: bool) -> None:
    """Deleting the manifest turned off every check, the bundled model's pinned digest included: the folder loaded with a
    warning. A copy of the bundled folder, and the bundled folder itself (here: the copy where the package looks for it)."""
    model = Path(shutil.copytree(BUNDLED_MODEL, tmp_path / "model"))
    if bundled:
        monkeypatch.setattr("resrank_eval.model.check.BUNDLED_MODEL", model)
    (model / "manifest.json").unlink()
    for args in (rerank_args(dl19, tmp_path / "out.txt", "--reranker", "resrank", "--model", model),
                 ["demo", "--model", model, "--output", tmp_path / "demo"]):
        refused(run_cli(*args), "model/manifest.json: missing")
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "demo").exists()


# -- no code from data ---------------------------------------------------------------------------------------------


def test_the_package_loads_no_pickle() -> None:
    sources = {path: path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}
    assert not [p for p, text in sources.items() if "weights_only=False" in text]
    assert not [p for p, text in sources.items() if re.search(r"\bpickle\.loads?\(|\bnp\.load\([^)]*allow_pickle=True", text)]
    assert not [p for p, text in sources.items() for call in re.findall(r"torch\.load\([^)]*\)", text) if "weights_only=True" not in call]


@pytest.mark.slow  # ~15 s on 2 cores: trains a tiny model, then resumes it
def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path, tiny_train_config: Path) -> None:
    """The probe's trainer.pt ran a shell command at `train --resume`: checkpoints are safetensors + JSON now, and a
    pickle lying where one was is never opened."""
    from resrank_eval.train.config import load_config

    config = load_config(tiny_train_config)
    canary = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {canary}",))

    step = Path(config.output_dir) / "checkpoints" / "step-0000002"
    step.mkdir(parents=True)
    (step / "trainer.pt").write_bytes(pickle.dumps({"model": Payload()}))
    (step / STATE_FILE).write_text(json.dumps({"step": 2, "model": {"__tensor__": "0"}}))
    (step / TENSORS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(Exception, match=r"step-0000002: no complete record of its files \(state.json\)"):
        Trainer(config).train(resume=True)
    assert not canary.exists()


@pytest.fixture
def tiny_train_config(tmp_path: Path) -> Path:
    return write_preset_train_config(tmp_path, "  - {name: align, steps: 2}\n")


def test_a_bad_training_file_fails_before_the_model_loads(tiny_train_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tiny_train_config.parent / "train.jsonl"
    data.write_text(data.read_text() + '{"qid": "q2", "query": "y", "candidates": [}\n')
    monkeypatch.setattr(Trainer, "_build_model", lambda *_: pytest.fail("the model loaded before the data was checked"))
    refused(run_cli("train", "--config", tiny_train_config), "train.jsonl:2:")


def test_a_damaged_checkpoint_fails_before_the_model_loads(tiny_train_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``train --resume`` built the model (16-20 s for a real one) before it read the checkpoint it would refuse."""
    from resrank_eval.train.config import load_config

    step = Path(load_config(tiny_train_config).output_dir) / "checkpoints" / "step-0000002"
    step.mkdir(parents=True)
    (step / STATE_FILE).write_text(json.dumps({"step": 2}))
    (step / TENSORS_FILE).write_bytes(b"not safetensors")
    monkeypatch.setattr(Trainer, "_build_model", lambda *_: pytest.fail("the model loaded before the checkpoint was checked"))
    refused(run_cli("train", "--config", tiny_train_config, "--resume"), "step-0000002: no complete record of its files")


# -- names that would escape the output folder ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["..", "."])
def test_a_dataset_name_cannot_escape_the_output_folder(tmp_path: Path, name: str) -> None:
    corpus = cranfield_beir(tmp_path / "cranfield")
    grid = tmp_path / "work" / "grid.yaml"
    grid.parent.mkdir()
    grid.write_text(f"output: {tmp_path / 'work' / 'runs'}\ndatasets:\n  - name: '{name}'\n    corpus: {corpus}\n"
                    "conditions:\n  - name: bm25\n    first_stage: {method: bm25}\n")
    refused(run_cli("reproduce", grid, "--resamples", "100"), "grid.yaml:3:", "cannot be part of a file name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cranfield", "work"] and sorted(p.name for p in grid.parent.iterdir()) == ["grid.yaml"]


def test_a_split_cannot_escape_the_corpus(tmp_path: Path) -> None:
    refused(run_cli("retrieve", "--dataset", "beir/nfcorpus", "--split", "../../etc", "--output", tmp_path / "x.txt"),
            'split "../../etc" cannot be part of a file name')


# -- two processes, one output -------------------------------------------------------------------------------------


@pytest.mark.slow  # ~2 min: the second process is held for the whole 120 s lock window
def test_a_second_process_waits_for_the_first_and_names_it(dl19: Path, tmp_path: Path) -> None:
    """Two `reproduce` runs on one folder both computed every query into one partial file: an output is locked while it
    is made, and a second process waits (saying for whom), then finds the outputs made."""
    out = tmp_path / "identity.txt"
    with locked(out):  # this process is "making" it
        waiting = subprocess.Popen([sys.executable, "-m", "resrank_eval", *map(str, rerank_args(dl19, out))], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        lock = tmp_path / ".identity.txt.lock"
        while time.monotonic() < deadline and waiting.poll() is None:
            time.sleep(0.5)
            if out.exists():
                break
        assert waiting.poll() is None and not out.exists(), "the second process went ahead while the output was locked"
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    _, stderr = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, stderr
    assert f"waiting for process {os.getpid()}" in stderr and out.is_file() and not lock.exists()


# -- mistakes that failed late or said nothing ---------------------------------------------------------------------


def test_run_queries_without_topics_fail_before_the_model_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RerankerFactory, "build", lambda self: pytest.fail("the model loaded before the topics were checked"))
    run = tmp_path / "run.txt"
    run.write_text("NOT-A-QUERY Q0 MED-2421 1 2.0 bm25\n")
    result = run_cli("rerank", "--dataset", "beir/nfcorpus", "--run", run, "--reranker", "resrank", "--model", BUNDLED_MODEL,
                     "--dense-index", BUNDLED_NFCORPUS_INDEX, "--output", tmp_path / "out.txt")
    refused(result, "run queries have no topic text", "NOT-A-QUERY")
    assert not list(tmp_path.glob("out.txt*"))


def test_pin_baseline_and_first_stage_keys_are_checked_before_anything_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    refused(run_cli("reproduce", grid_file(tmp_path), "--baseline", "bm52"), "--baseline 'bm52' is not a condition")
    refused(run_cli("reproduce", grid_file(tmp_path), "--resamples", "79"),  # bm25.identity and rrf against bm25: 2 comparisons
            "--resamples 79 is too few", "times 2 comparisons (Holm), never below alpha 0.05; use at least 80")
    refused(run_cli("reproduce", grid_file(tmp_path, **{"expected:\n": "expected:\nthreads: 2\n"}), "--pin"),
            "`expected:` must be the file's last block")
    refused(run_cli("reproduce", grid_file(tmp_path, **{"{bm25:": "{bm52:"}), "--dry-run"),
            "grid.yaml:5:", "'bm52' is no retrieval method")
    refused(run_cli("reproduce", grid_file(tmp_path, **{"first_stage: {method: bm25}": "first_stage: {method: imported, source: bm25, hits: 10}"})),
            "grid.yaml:8:", "hits does not apply to an imported first stage")
    assert not runs.exists()


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    refused(run_cli("reproduce", grid_file(tmp_path, **{"baseline: bm25\n": "baseline: bm25\nbaseline: rrf\n"}), "--dry-run"),
            "grid.yaml:3:", "duplicate key 'baseline'")


@pytest.mark.parametrize("weights", ["0,0", "-1,2", "1,nan", "1e308,1e308"])
def test_fusion_weights_must_be_positive(dl19: Path, tmp_path: Path, weights: str) -> None:
    refused(run_cli("fuse", dl19, dl19, "--weights", weights, "--output", tmp_path / "f.txt"), "--weights must be positive numbers")
    assert not (tmp_path / "f.txt").exists()


@pytest.mark.parametrize("k", ["inf", "nan", "0"])
def test_the_rrf_constant_must_be_finite_and_positive(dl19: Path, tmp_path: Path, k: str) -> None:
    """The probe's ``--rrf.k inf``: every fused score 0, the run ordered by docid, exit 0."""
    refused(run_cli("fuse", dl19, dl19, "--rrf.k", k, "--output", tmp_path / "f.txt"), "--rrf.k must be a positive number")
    assert not (tmp_path / "f.txt").exists()


def test_fusing_runs_over_different_query_sets_warns_with_counts(dl19: Path, tmp_path: Path) -> None:
    half = tmp_path / "half.txt"
    lines = dl19.read_text().splitlines(keepends=True)
    qids = list(dict.fromkeys(line.split()[0] for line in lines))[:20]
    half.write_text("".join(line for line in lines if line.split()[0] in qids))
    result = run_cli("fuse", dl19, half, "--output", tmp_path / "f.txt")
    assert result.exit_code == 0 and "different query sets (bm25.txt: 43, half.txt: 20; 20 queries in all of them)" in result.output


def test_a_nul_inside_an_id_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run.txt"
    run.write_bytes(b"264014 Q0 d\x001 1 2.0 t\n")
    refused(run_cli("validate", run, "--dataset", "dl19"), "contains a control character")
    refused(run_cli("convert-run", run, "--to", "msmarco", "--output", tmp_path / "out.tsv"), "run.txt:1:", "control character")


def test_a_zero_width_space_inside_an_id_is_refused_not_scored_zero(tmp_path: Path) -> None:
    """Probe: a docid with a zero-width space (U+200B) in a run or qrels matched no judgment, and ``evaluate`` printed
    nDCG@10 0.0000 for a run that ranks the one relevant passage first, exit 0."""
    run, qrels = tmp_path / "run.txt", tmp_path / "qrels.txt"
    run.write_text("q1 Q0 d1\u200b 1 2.0 t\nq1 Q0 d2 2 1.0 t\n", encoding="utf-8")
    qrels.write_text("q1 0 d1 1\nq1 0 d2 0\n")
    refused(run_cli("evaluate", "--dataset", "dl19", "--qrels", qrels, run), "run.txt:1:", "U+200B (ZERO WIDTH SPACE)")
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\n")
    qrels.write_text("q1 0 d1\u200b 1\nq1 0 d2 0\n", encoding="utf-8")
    refused(run_cli("evaluate", "--dataset", "dl19", "--qrels", qrels, run), "qrels.txt:1:", "U+200B")


def test_options_that_mean_nothing_to_bm25_are_refused(tmp_path: Path) -> None:
    refused(run_cli("retrieve", "--dataset", "beir/nfcorpus", "--model", "mini", "--output", tmp_path / "x.txt"),
            "--model does not apply to BM25")
    assert not list(tmp_path.iterdir())


def test_shard_num_without_shard_id_is_refused(dl19: Path, tmp_path: Path) -> None:
    refused(run_cli(*rerank_args(dl19, tmp_path / "out.txt", "--shard-num", "2")), "pass --shard-id and --shard-num together")
    assert not list(tmp_path.glob("out.txt*"))


def test_a_duplicated_or_foreign_shard_is_a_clean_error(dl19: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.txt"
    for shard in ("0", "1"):
        assert run_cli(*rerank_args(dl19, out, "--shard-id", shard, "--shard-num", "2")).exit_code == 0
    logs = sorted(tmp_path.glob("run.txt.shard-*"))
    shutil.copyfile(logs[0], logs[1])  # shard 0 twice
    refused(run_cli("merge", "--output", out), "shard-00001-of-00002.jsonl: holds shard-00000-of-00002")
    assert not out.exists()


def test_shards_made_with_other_thread_counts_do_not_merge(dl19: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.txt"
    for shard, threads in (("0", "1"), ("1", "2")):
        assert run_cli(*rerank_args(dl19, out, "--shard-id", shard, "--shard-num", "2", "--threads", threads)).exit_code == 0
    refused(run_cli("merge", "--output", out), "made with --threads 1, now 2")


def test_merge_publishes_the_shards_not_a_one_process_log_killed_while_publishing(dl19: Path, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-process rerank (--top-k 10) killed while publishing leaves its finished log; merging the shards then run with
    --top-k 5 published that log's run instead (its record --top-k 10), exit 0, and left the shards' logs unmerged."""
    from resrank_eval.rerank import sink

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "run.txt"
    with monkeypatch.context() as patched:
        patched.setattr(sink, "_publish", killed)
        assert run_cli(*rerank_args(dl19, out)).exit_code != 0
    assert sorted(p.name for p in tmp_path.glob("run.txt*")) == ["run.txt.jsonl"]
    for shard in ("0", "1"):
        assert run_cli(*rerank_args(dl19, out, "--top-k", "5", "--shard-id", shard, "--shard-num", "2")).exit_code == 0
    assert run_cli("merge", "--output", out).exit_code == 0
    assert json.loads((tmp_path / "run.txt.provenance.json").read_text())["arguments"]["top_k"] == 5
    assert run_cli(*rerank_args(dl19, tmp_path / "one.txt", "--top-k", "5")).exit_code == 0
    assert out.read_bytes() == (tmp_path / "one.txt").read_bytes()


def test_a_bm25_query_of_more_than_1024_terms_is_searched(tmp_path: Path) -> None:
    """Lucene's default clause limit lost the whole retrieval (an internal error): long queries are searched."""
    corpus = tmp_path / "long"
    (corpus / "qrels").mkdir(parents=True)
    (corpus / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": " ".join(f"w{i}x{j}" for j in range(30))}) + "\n"
                                                 for i in range(60)))
    (corpus / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    (tmp_path / "topics.tsv").write_text("q1\t" + " ".join(f"w{i}x{j}" for i in range(60) for j in range(25)) + "\nq2\tw3x1\n")
    for threads in ("1", "2"):
        out = tmp_path / f"run{threads}.txt"
        result = run_cli("retrieve", "--dataset", "long", "--corpus", corpus, "--topics", tmp_path / "topics.tsv", "--hits", "10",
                         "--threads", threads, "--output", out)
        assert result.exit_code == 0, result.output
        assert len(read_run(out)["q1"]) == 10 and read_run(out)["q2"][0].docid == "d3"


def test_a_full_disk_names_the_file(tmp_path: Path) -> None:
    """EFBIG / ENOSPC name no file: the writer says which output it was writing."""
    out = tmp_path / "bm25.txt"
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))\n"
              "from resrank_eval.cli import main\n"
              f"main(['import-candidates', {str(DL19_CANDIDATES)!r}, '--output', {str(out)!r}])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert re.search(r"Error: .*bm25.txt.passages.jsonl: cannot be written \(File too large\)", done.stderr), done.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bm25")], "no temp file is left"
