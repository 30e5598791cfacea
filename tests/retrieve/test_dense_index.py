"""What a dense index that cannot be searched or read tells the user to do: never to write into the package's own data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.model.sources import BUNDLED_MODEL, BUNDLED_NFCORPUS_INDEX
from tests.helpers import tiny_beir


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result: Result) -> str:
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.stderr


@pytest.mark.parametrize("copied", [False, True])
def test_searching_a_vectors_only_index_says_to_encode_into_a_folder_of_ones_own(tmp_path: Path, copied: bool) -> None:
    """The bundled index keeps vectors for rerankers, no FAISS index: "encode it again (--overwrite)" pointed at the package."""
    index = BUNDLED_NFCORPUS_INDEX
    if copied:
        index = Path(shutil.copytree(index, tmp_path / "vectors-only"))
    result = run_cli("retrieve", "--dataset", "beir/nfcorpus", "--method", "dense", "--model", BUNDLED_MODEL, "--index", index,
                     "--output", tmp_path / "run.txt")
    error = one_error(result)
    assert error == (f"Error: {index}: vectors only (what rerankers read), no FAISS index to search; encode the corpus into "
                     "a folder of your own (resrank-eval encode --dataset ... --model ... --index DIR)\n")
    assert not (tmp_path / "run.txt").exists()


def test_a_changed_bundled_index_is_not_to_be_encoded_again_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's data (here a copy, as RESRANK_DATA_DIR) is reinstalled, not written into."""
    data = tmp_path / "data"
    index = Path(shutil.copytree(BUNDLED_NFCORPUS_INDEX, data / "indexes" / BUNDLED_NFCORPUS_INDEX.name))
    np.save(index / "vectors.npy", np.zeros_like(np.load(index / "vectors.npy")))
    monkeypatch.setenv("RESRANK_DATA_DIR", str(data))
    run = tmp_path / "run.txt"
    run.write_text("PLAIN-1 Q0 MED-2421 1 2.0 bm25\nPLAIN-1 Q0 MED-2422 2 1.0 bm25\n")
    result = run_cli("rerank", "--dataset", "beir/nfcorpus", "--split", "dev", "--run", run, "--reranker", "encoder",
                     "--model", BUNDLED_MODEL, "--dense-index", index, "--output", tmp_path / "out.txt")
    error = one_error(result)
    assert error.startswith(f"Error: {index / 'vectors.npy'}: changed since it was made") and "--overwrite" not in error, error
    assert error.endswith("; it ships with resrank-eval: install it again, or encode the corpus into a folder of your own "
                          "(resrank-eval encode --dataset ... --model ... --index DIR)\n"), error


def test_dense_hits_beyond_the_index_return_the_whole_index(tmp_path: Path) -> None:
    """FAISS allocates ``hits`` slots per query whatever the index holds: ``--hits 2147483647`` over a two-passage index took
    17 GB and aborted the process. The depth is the index at most; the run is the one ``--hits 1000`` writes."""
    corpus = tiny_beir(tmp_path / "tiny", {"d1": "cats purr", "d2": "dogs bark"}, "cats")
    index = tmp_path / "index"
    assert run_cli("encode", "--dataset", "tiny", "--corpus", corpus, "--model", BUNDLED_MODEL, "--index", index).exit_code == 0
    runs = {}
    for hits in ("1000", "2147483647"):
        runs[hits] = tmp_path / f"run.{hits}.txt"
        result = run_cli("retrieve", "--dataset", "tiny", "--corpus", corpus, "--method", "dense", "--model", BUNDLED_MODEL,
                         "--index", index, "--hits", hits, "--output", runs[hits])
        assert result.exit_code == 0, result.output
    assert runs["2147483647"].read_text() == runs["1000"].read_text() and runs["1000"].read_text().count("\n") == 2


def test_encoding_into_a_lucene_index_folder_is_refused(tmp_path: Path) -> None:
    """``encode --index DIR`` over the folder ``index --index DIR`` made found none of its own files there and took the folder
    over: the Lucene index's record was replaced (``index`` into an encode's folder was refused). It is refused the same way."""
    corpus = tiny_beir(tmp_path / "tiny", {"d1": "owls hoot", "d2": "bees hum"}, "owls")
    folder = tmp_path / "index"
    assert run_cli("index", "--dataset", "tiny", "--corpus", corpus, "--index", folder).exit_code == 0
    record = (folder / "provenance.json").read_bytes()
    result = run_cli("encode", "--dataset", "tiny", "--corpus", corpus, "--model", BUNDLED_MODEL, "--index", folder)
    assert "made by `index`, not `encode`; pass --overwrite" in one_error(result)
    assert (folder / "provenance.json").read_bytes() == record and not (folder / "vectors.npy").exists()
    result = run_cli("retrieve", "--dataset", "tiny", "--corpus", corpus, "--method", "dense", "--model", BUNDLED_MODEL,
                     "--index", folder, "--output", tmp_path / "dense.run")  # it said "vectors only (what rerankers read)"
    assert one_error(result).strip() == f"Error: {folder}: a Lucene index (made by `index`), not a dense one; make one with resrank-eval encode"


@pytest.mark.parametrize(("option", "message"), [({"threads": 0}, "threads must be an integer >= 1, got 0"),
                                                 ({"hits": 2.5}, "hits must be an integer >= 1, got 2.5"),
                                                 ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0")])
def test_python_retrieve_refuses_counts_in_one_line(option: dict, message: str) -> None:
    """``rr.retrieve(..., threads=0)`` raised torch's RuntimeError from set_num_threads, ``hits=2.5`` a TypeError."""
    import resrank_eval as rr
    from resrank_eval.errors import ResrankError

    with pytest.raises(ResrankError, match=f"^{message}$"):
        rr.retrieve(rr.get_dataset("beir/nfcorpus"), "dense", index=BUNDLED_NFCORPUS_INDEX, model=BUNDLED_MODEL, **option)
