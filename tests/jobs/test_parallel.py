"""Sharded encode, dense retrieval and rerank write what one process writes, byte for byte.

Real components on a tiny random ResRank model (``tests/tiny_models.py``): 40 NFCorpus passages in
chunks of 7, 24 NFCorpus queries, the DL19 BM25 candidates. The job-array form (``--shard-id/--shard-num``
+ ``merge``) runs in this process; torchrun runs 2 CPU processes (gloo) once for all three commands.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.formats.results_log import ResultsLog
from resrank_eval.jobs import logged_run, rank_queries, shard_log, units
from resrank_eval.model import ResRankModel
from resrank_eval.parallel import Shard
from resrank_eval.types import Candidate
from tests.helpers import DL19_CANDIDATES, NFCORPUS, REPO
from tests.tiny_models import tiny_config

INDEX_FILES = ("index", "docid", "vectors.npy")
TIMINGS = ("encode_ms", "rerank_ms", "total_ms")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model, a 40-passage corpus and 24 topics, and the one-process outputs of the three commands."""
    root = tmp_path_factory.mktemp("parallel")
    torch.manual_seed(0)
    ResRankModel.from_config(tiny_config(root), "cpu", "float32").save_pretrained(root / "model")
    (root / "corpus").mkdir()
    with gzip.open(NFCORPUS / "corpus.jsonl.gz", "rt") as source:
        (root / "corpus" / "corpus.jsonl").write_text("".join(itertools.islice(source, 40)))
    with gzip.open(NFCORPUS / "queries.jsonl.gz", "rt") as source:
        (root / "topics.jsonl").write_text("".join(itertools.islice(source, 24)))
    for args in commands(root, "one"):
        ok(*args)
    return root


def commands(root: Path, name: str, *extra: str) -> list[list[str]]:
    """encode, dense retrieve and rerank into ``root/name``, each with ``extra`` options."""
    out = root / name
    return [
        ["encode", "--dataset", "x", "--corpus", str(root / "corpus"), "--model", str(root / "model"), "--index", str(out / "index"),
         "--shard-size", "7", "--batch-size", "4", "--threads", "1", *extra],
        ["retrieve", "--dataset", "beir/nfcorpus", "--topics", str(root / "topics.jsonl"), "--method", "dense", "--model", str(root / "model"),
         "--index", str(root / "one" / "index"), "--hits", "10", "--batch-size", "5", "--output", str(out / "dense.txt"), *extra],
        ["rerank", "--dataset", "dl19", "--candidates", str(DL19_CANDIDATES), "--reranker", "resrank", "--model", str(root / "model"),
         "--top-k", "8", "--batch-size", "3", "--threads", "1", "--output", str(out / "rerank.txt"), *extra],
    ]


def assert_same_outputs(root: Path, name: str, world: int) -> None:
    one, other = root / "one", root / name
    for file in INDEX_FILES:
        assert (one / "index" / file).read_bytes() == (other / "index" / file).read_bytes(), file
    for run in ("dense.txt", "rerank.txt"):
        assert (one / run).read_bytes() == (other / run).read_bytes(), run
    assert list(other.glob("*shard-*")) == [] and not (other / "index" / "shards").exists()

    def untimed(path: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in path.read_text().splitlines()]

    assert untimed(one / "rerank.txt.stats.jsonl") == untimed(other / "rerank.txt.stats.jsonl")
    summary = json.loads((other / "rerank.txt.summary.json").read_text())
    assert summary["queries"] == 43 and summary["world_size"] == world
    assert [r["rank"] for r in summary["ranks"]] == list(range(world)) and sum(r["queries"] for r in summary["ranks"]) == 43
    meta = json.loads((other / "index" / "encoder.json").read_text())
    assert meta["probe"] == json.loads((one / "index" / "encoder.json").read_text())["probe"]
    assert meta["world_size"] == world and sum(r["passages"] for r in meta["ranks"]) == 40
    # the merged outputs carry the record one process writes (the same provenance and, but for the timings in the stats
    # and summary, the same digests), so keeping and resuming treat them alike
    for record in ("index/provenance.json", "dense.txt.provenance.json", "rerank.txt.provenance.json"):
        mine, theirs = json.loads((one / record).read_text()), json.loads((other / record).read_text())
        timed = {name for name in mine["outputs"] if name.endswith((".stats.jsonl", ".summary.json", "encoder.json"))}
        assert {k: v for k, v in mine.items() if k not in ("outputs", "sources")} == {k: v for k, v in theirs.items() if k not in ("outputs", "sources")}
        assert {k: v for k, v in mine["outputs"].items() if k not in timed} == {k: v for k, v in theirs["outputs"].items() if k not in timed}


def test_a_shard_owns_every_nth_block() -> None:
    items = list(range(11))
    parts = [Shard(i, 3).blocks(items, 2) for i in range(3)]
    assert parts == [[[0, 1], [6, 7]], [[2, 3], [8, 9]], [[4, 5], [10]]]
    assert [item for block in Shard().blocks(items, 4) for item in block] == items
    with pytest.raises(Exception, match="shard_id must be in 0..1"):
        Shard(2, 2)


def test_the_rankings_shards_log_read_back_as_the_run_they_ranked(tmp_path: Path) -> None:
    """A rerank's and a dense retrieval's merges decoded the logged rankings each with its own copy of the code; the
    format is now read where :func:`rank_queries` writes it."""
    run = {f"q{i}": [Candidate(f"00{i}", 1.5), Candidate("7", -2.0 - i)] for i in range(5)}
    logs = []
    for shard in (Shard(0, 2), Shard(1, 2)):
        results = ResultsLog(shard_log(tmp_path / "run.txt", shard), {"shard": shard.id, "num": shard.num})
        rank_queries(results, shard, list(run), 2, lambda qids: ((q, run[q], {}) for q in qids))
        logs.append(ResultsLog.read(results.path))
    assert list(logged_run(units(logs)).items()) == list(run.items())


def test_job_array_shards_and_merge_equal_one_process(work: Path) -> None:
    for shard in ("1", "0"):
        for args in commands(work, "array", "--shard-id", shard, "--shard-num", "2"):
            assert "resrank-eval merge" in ok(*args).output
        if shard == "1":  # one shard done: merging now names the missing one, and writes nothing
            result = invoke("merge", "--index", str(work / "array" / "index"))
            assert result.exit_code == 2 and "shard(s) 0 of 2 not finished" in result.output
            assert not (work / "array" / "index" / "index").exists()
            changed = [*commands(work, "array", "--shard-id", "1", "--shard-num", "2")[2], "--top-k", "5"]
            result = invoke(*changed)  # a finished shard made otherwise is refused, naming the difference
            assert result.exit_code == 2 and "--top-k" in result.output and "pass --overwrite" in result.output
    ok("merge", "--index", str(work / "array" / "index"))
    for run in ("dense.txt", "rerank.txt"):
        ok("merge", "--output", str(work / "array" / run))
    assert_same_outputs(work, "array", 2)
    for args in commands(work, "array", "--shard-id", "0", "--shard-num", "2"):  # merged and up to date: nothing to do
        assert "skipping" in ok(*args).output


def test_shard_options_are_checked(work: Path) -> None:
    result = invoke(*commands(work, "bad", "--shard-id", "2", "--shard-num", "2")[2])
    assert result.exit_code == 2 and "--shard-id must be in 0..1" in result.output
    result = invoke("retrieve", "--dataset", "beir/nfcorpus", "--method", "bm25", "--output", str(work / "bm25.txt"),
                    "--shard-id", "0", "--shard-num", "2")
    assert result.exit_code == 2 and "sharding applies to dense retrieval" in result.output
    assert not list(work.glob("bm25.txt*"))


def test_merge_refuses_shards_that_read_the_queries_in_another_order(work: Path) -> None:
    """Shard 1 read the same run (or topics) with its queries in reverse order -- a file sorted again between two jobs of an
    array, a run built in Python from a set -- and so owned the blocks shard 0 had done: the merged rerank held 12 of the
    24 queries (12 of them twice in its stats), exit 0. The order of a run's or topics' queries is part of the record."""
    one = work / "one" / "dense.txt"
    (work / "reversed.txt").write_text("".join(reversed(one.read_text().splitlines(keepends=True))))
    (work / "reversed.jsonl").write_text("".join(reversed((work / "topics.jsonl").read_text().splitlines(keepends=True))))
    rerank = ["rerank", "--dataset", "x", "--corpus", str(work / "corpus"), "--topics", str(work / "topics.jsonl"),
              "--reranker", "identity", "--top-k", "5", "--batch-size", "2", "--output", str(work / "order" / "rerank.txt")]
    retrieve = commands(work, "order")[1]
    for shard, run, topics in (("0", one, work / "topics.jsonl"), ("1", work / "reversed.txt", work / "reversed.jsonl")):
        ok(*rerank, "--run", str(run), "--shard-id", shard, "--shard-num", "2")
        ok(*[str(topics) if arg.endswith("topics.jsonl") else arg for arg in retrieve], "--shard-id", shard, "--shard-num", "2")
    for name, changed in (("rerank.txt", "--run"), ("dense.txt", "--topics")):
        result = invoke("merge", "--output", str(work / "order" / name))
        assert result.exit_code == 2 and f"made from a different {changed}" in result.output, result.output
        assert not (work / "order" / name).exists()


def test_merge_output_refuses_the_shards_of_an_encoding(work: Path) -> None:
    """``merge --output`` took any shards for a run's: an encoding's (``INDEX/shards/encode``) failed as an internal error,
    KeyError: 'qid'."""
    for shard in ("0", "1"):
        ok(*commands(work, "encoding", "--shard-id", shard, "--shard-num", "2")[0])
    log = work / "encoding" / "index" / "shards" / "encode"
    result = invoke("merge", "--output", str(log))
    assert result.exit_code == 2 and result.output == f"Error: {log}: the shards of 'encode', not of a run; merge them with --index DIR\n"
    ok("merge", "--index", str(work / "encoding" / "index"))


def test_merge_finds_the_shards_of_an_output_named_with_glob_characters(work: Path) -> None:
    """An output named ``rr[1].txt`` could never be merged: its name was read as a glob pattern ("no finished shard")."""
    rerank = ["rerank", "--dataset", "x", "--corpus", str(work / "corpus"), "--topics", str(work / "topics.jsonl"), "--run",
              str(work / "one" / "dense.txt"), "--reranker", "identity", "--top-k", "5", "--output", str(work / "g" / "rr[1].txt")]
    for shard in ("0", "1"):
        ok(*rerank, "--shard-id", shard, "--shard-num", "2")
    ok("merge", "--output", str(work / "g" / "rr[1].txt"))
    ok(*rerank[:-1], str(work / "g" / "whole.txt"))  # one process
    assert (work / "g" / "rr[1].txt").read_bytes() == (work / "g" / "whole.txt").read_bytes()


@pytest.mark.slow  # ~20 s on 2 cores: torchrun starts two processes
def test_torchrun_two_cpu_processes_equal_one_process(work: Path) -> None:
    driver = "\n".join(["from resrank_eval.cli import main",
                        *(f"main({args!r}, standalone_mode=False)" for args in commands(work, "torchrun"))])
    (work / "driver.py").write_text(driver + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(work / "driver.py")], capture_output=True, text=True, timeout=600, env=env, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_outputs(work, "torchrun", 2)


def identity_rerank(work: Path, output: Path, *extra: str) -> list[str]:
    """A fast rerank (the identity reranker) of the one-process dense run into ``output``."""
    return ["rerank", "--dataset", "x", "--corpus", str(work / "corpus"), "--topics", str(work / "topics.jsonl"), "--run",
            str(work / "one" / "dense.txt"), "--reranker", "identity", "--batch-size", "2", "--output", str(output), *extra]


def test_merge_refuses_outputs_made_with_other_arguments(work: Path) -> None:
    """Shards run with --top-k 5 and left unmerged, then the same rerank in one process with --top-k 10: merging the shards
    replaced its outputs with the --top-k 5 ones, exit 0, where every other command refuses outputs made otherwise."""
    out = work / "other" / "rerank.txt"
    for shard in ("0", "1"):
        ok(*identity_rerank(work, out, "--top-k", "5", "--shard-id", shard, "--shard-num", "2"))
    ok(*identity_rerank(work, out, "--top-k", "10"))
    made = {path: path.read_bytes() for path in out.parent.glob("rerank.txt*")}
    result = invoke("merge", "--output", str(out))
    assert result.exit_code == 2 and result.output == f"Error: {out}: made with --top-k 10, now 5; pass --overwrite to make it again\n"
    assert {path: path.read_bytes() for path in out.parent.glob("rerank.txt*")} == made
    ok("merge", "--output", str(out), "--overwrite")
    assert json.loads((work / "other" / "rerank.txt.provenance.json").read_text())["arguments"]["top_k"] == 5
    assert not list(out.parent.glob("*shard-*"))


def test_merge_again_keeps_what_it_merged(work: Path) -> None:
    """A second ``merge`` after a successful one (a job array's pipeline submitted again) failed: 'no finished shard to
    merge', exit 2. It keeps the merged outputs, as every command keeps outputs made so; changed since, they are refused."""
    out = work / "again" / "rerank.txt"
    for shard in ("0", "1"):
        ok(*identity_rerank(work, out, "--top-k", "5", "--shard-id", shard, "--shard-num", "2"))
    ok("merge", "--output", str(out))
    made = {path: path.read_bytes() for path in out.parent.iterdir()}
    assert "merged already" in ok("merge", "--output", str(out)).output
    assert {path: path.read_bytes() for path in out.parent.iterdir()} == made
    stats = work / "again" / "rerank.txt.stats.jsonl"
    stats.write_text(stats.read_text()[:-10])
    result = invoke("merge", "--output", str(out))
    assert result.exit_code == 2 and f"Error: {stats}: changed since it was made" in result.output
    result = invoke("merge", "--output", str(work / "again" / "none.txt"))  # nothing there: nothing to merge
    assert result.exit_code == 2 and "no finished shard to merge" in result.output


def test_an_encoding_not_merged_yet_is_named_where_it_is_read(work: Path) -> None:
    """Every shard of an encode finished but not merged: reading the index said 'no complete record ... encode it again
    (resrank-eval encode ... --overwrite)', advice that throws the shards' work away. It names the merge to run."""
    index = work / "unmerged" / "index"
    for shard in ("0", "1"):
        ok(*commands(work, "unmerged", "--shard-id", shard, "--shard-num", "2")[0])
    retrieve = [str(index) if arg == str(work / "one" / "index") else arg for arg in commands(work, "unmerged")[1]]
    rerank = [*identity_rerank(work, work / "unmerged" / "rerank.txt", "--top-k", "5")]
    rerank[rerank.index("identity")] = "resrank"
    rerank += ["--model", str(work / "model"), "--dense-index", str(index)]
    for args in (retrieve, rerank):
        result = invoke(*args)
        assert result.exit_code == 2 and result.output == (
            f"Error: {index}: no complete record of its files (provenance.json); its shards are not merged yet: "
            f"resrank-eval merge --index {index}\n"), result.output
    ok("merge", "--index", str(index))
    assert "merged already" in ok("merge", "--index", str(index)).output
    ok(*retrieve)


def test_a_merge_that_keeps_the_outputs_drops_their_shards_logs(work: Path) -> None:
    """Both shards finished, then the same rerank in one process made the outputs: ``merge`` kept them, as it should, but
    left the shards' logs, where a merge that publishes drops them; a later job of another split (``--overwrite``) then
    failed at its merge, 'a shard of 3, the others of 2; delete the shards of the other split', exit 2."""
    out = work / "kept" / "rerank.txt"
    for shard in ("0", "1"):
        ok(*identity_rerank(work, out, "--top-k", "5", "--shard-id", shard, "--shard-num", "2"))
    ok(*identity_rerank(work, out, "--top-k", "5"))
    made = {path: path.read_bytes() for path in out.parent.glob("rerank.txt*") if "shard-" not in path.name}
    assert "exists, made with the shards' arguments" in ok("merge", "--output", str(out)).output
    assert {path: path.read_bytes() for path in out.parent.glob("rerank.txt*")} == made  # the outputs untouched, no log left
    for shard in ("0", "1", "2"):
        ok(*identity_rerank(work, out, "--top-k", "5", "--shard-id", shard, "--shard-num", "3", "--overwrite"))
    ok("merge", "--output", str(out))
    assert out.read_bytes() == made[out] and not list(out.parent.glob("*shard-*"))


def test_a_merge_that_keeps_an_encoding_drops_its_chunks(work: Path) -> None:
    """A merge killed after it published an encoding, before it dropped the shards' folder: the merge run again keeps the
    index and dropped the logs but left the chunks they refer to, a second copy of every vector nothing reads."""
    index = work / "rekept" / "index"
    for shard in ("0", "1"):
        ok(*commands(work, "rekept", "--shard-id", shard, "--shard-num", "2")[0])
    shutil.copytree(index / "shards", work / "rekept" / "left")
    ok("merge", "--index", str(index))
    made = {path: path.read_bytes() for path in index.iterdir()}
    shutil.copytree(work / "rekept" / "left", index / "shards")  # as a killed merge leaves them
    assert "exists, made with the shards' arguments" in ok("merge", "--index", str(index)).output
    assert {path: path.read_bytes() for path in index.iterdir()} == made  # the index untouched, no shard folder left


def test_a_merge_killed_while_dropping_the_logs_keeps_its_outputs_when_run_again(work: Path) -> None:
    """A merge killed after it published, while it dropped the shards' logs, left some of them: run again, it said 'shard(s)
    0 of 2 not finished yet', exit 2, though the outputs were complete. It keeps them (their record verifies) and drops the
    logs left; outputs changed since are refused, never kept."""
    out = work / "killed" / "rerank.txt"
    index = work / "killed" / "index"
    for shard in ("0", "1"):
        ok(*identity_rerank(work, out, "--top-k", "5", "--shard-id", shard, "--shard-num", "2"))
        ok(*commands(work, "killed", "--shard-id", shard, "--shard-num", "2")[0])
    left = {path: path.read_bytes() for path in [*out.parent.glob("rerank.txt.shard-00001-*"), *index.glob("shards/*-00001-*")]}
    assert len(left) == 2
    ok("merge", "--output", str(out))
    ok("merge", "--index", str(index))
    made = {path: path.read_bytes() for path in [*out.parent.glob("rerank.txt*"), *index.iterdir()]}
    for restored in (1, 2):  # as a killed merge leaves them: shard 0's log dropped, shard 1's not (the index: nor its chunks)
        index.joinpath("shards").mkdir(exist_ok=True)
        for path, content in left.items():
            path.write_bytes(content)
        if restored == 2:  # changed since it was made: refused, with nothing dropped
            out.write_bytes(made[out] + b"\n")
            result = invoke("merge", "--output", str(out))
            assert result.exit_code == 2 and f"Error: {out}: changed since it was made" in result.output, result.output
            assert all(path.exists() for path in left)
            out.write_bytes(made[out])
        for where in (["--output", str(out)], ["--index", str(index)]):
            assert "exists, made with the shards' arguments" in ok("merge", *where).output
        assert {path: path.read_bytes() for path in [*out.parent.glob("rerank.txt*"), *index.iterdir()]} == made  # no log left
