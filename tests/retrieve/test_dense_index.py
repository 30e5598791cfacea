"""What a dense index that cannot be searched or read tells the user to do: never to write into the package's own data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.formats.candidates import write_candidates
from resrank_eval.model.sources import BUNDLED_MODEL, BUNDLED_NFCORPUS_INDEX
from resrank_eval.provenance import fingerprint
from resrank_eval.types import Candidate, Query
from tests.helpers import tiny_beir


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result: Result) -> str:
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.stderr


@pytest.mark.parametrize("copied", [None, "as shipped", "with an added FAISS file"])
def test_searching_a_vectors_only_index_says_to_encode_into_a_folder_of_ones_own(tmp_path: Path, copied: str | None) -> None:
    """The bundled index keeps vectors for rerankers, no FAISS index: "encode it again (--overwrite)" pointed at the package.
    A FAISS file put into a copy later is no part of the index its record vouches for (here: rows in another order, which
    searched gave nDCG@10 0.01 with exit 0, recorded as the shipped index's run)."""
    import faiss

    index = BUNDLED_NFCORPUS_INDEX
    if copied:
        index = Path(shutil.copytree(index, tmp_path / "vectors-only"))
    if copied == "with an added FAISS file":
        vectors = np.load(index / "vectors.npy").astype(np.float32)[::-1]
        added = faiss.IndexFlatIP(vectors.shape[1])
        added.add(np.ascontiguousarray(vectors))
        faiss.write_index(added, str(index / "index"))
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
    assert "made by 'index', not 'encode'; pass --overwrite" in one_error(result)
    assert (folder / "provenance.json").read_bytes() == record and not (folder / "vectors.npy").exists()
    result = run_cli("retrieve", "--dataset", "tiny", "--corpus", corpus, "--method", "dense", "--model", BUNDLED_MODEL,
                     "--index", folder, "--output", tmp_path / "dense.run")  # it said "vectors only (what rerankers read)"
    assert one_error(result).strip() == f"Error: {folder}: a Lucene index (made by resrank-eval index), not a dense one; make one with resrank-eval encode"


@pytest.mark.parametrize(("option", "message"), [({"threads": 0}, "threads must be an integer >= 1, got 0"),
                                                 ({"hits": 2.5}, "hits must be an integer >= 1, got 2.5"),
                                                 ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0")])
def test_python_retrieve_refuses_counts_in_one_line(option: dict, message: str) -> None:
    """``rr.retrieve(..., threads=0)`` raised torch's RuntimeError from set_num_threads, ``hits=2.5`` a TypeError."""
    import resrank_eval as rr
    from resrank_eval.errors import ResrankError

    with pytest.raises(ResrankError, match=f"^{message}$"):
        rr.retrieve(rr.get_dataset("beir/nfcorpus"), "dense", index=BUNDLED_NFCORPUS_INDEX, model=BUNDLED_MODEL, **option)


def encoded_tiny(tmp_path: Path) -> tuple[Path, Path]:
    """A two-passage BEIR folder and its dense index (the bundled model's encoder)."""
    corpus = tiny_beir(tmp_path / "encoded", {"d1": "cats purr", "d2": "dogs bark"}, "the stock market")
    index = tmp_path / "index"
    assert run_cli("encode", "--dataset", "tiny", "--corpus", corpus, "--model", BUNDLED_MODEL, "--index", index).exit_code == 0
    return corpus, index


def rerank_cli(tmp_path: Path, name: str, *source: str | Path) -> Result:
    """``rerank`` of q1's d2, d1 with the encoder, its passages from ``source`` (options), into ``tmp_path/name``."""
    run = tmp_path / "run.txt"
    run.write_text("q1 Q0 d2 1 2.0 bm25\nq1 Q0 d1 2 1.0 bm25\n")
    return run_cli("rerank", "--dataset", "tiny", *source, "--reranker", "encoder", "--model", BUNDLED_MODEL,
                   "--output", tmp_path / name, *([] if "--candidates" in source else ["--run", run]))


def test_rerank_refuses_a_dense_index_of_another_corpus(tmp_path: Path) -> None:
    """The encoder matched, so another corpus's d1 ("the stock market fell") was scored with the vector of the encoded
    d1 ("cats purr"): 0.145 where encoding it gives 0.650, exit 0. The index's record names its corpus by fingerprint."""
    corpus, index = encoded_tiny(tmp_path)
    other = tiny_beir(tmp_path / "other", {"d1": "the stock market fell", "d2": "dogs bark"}, "the stock market")
    error = one_error(rerank_cli(tmp_path, "wrong.txt", "--corpus", other, "--dense-index", index))
    encoded, given = fingerprint(corpus / "corpus.jsonl"), fingerprint(other / "corpus.jsonl")
    assert error == (f"Error: {index}: encoded from the corpus {corpus / 'corpus.jsonl'} ({encoded[:19]}), but the passages come "
                     f"from {other / 'corpus.jsonl'} ({given[:19]}); encode that corpus into a dense index of its own\n")
    assert not list(tmp_path.glob("wrong.txt*"))
    assert rerank_cli(tmp_path, "own.txt", "--corpus", corpus, "--dense-index", index).exit_code == 0
    assert rerank_cli(tmp_path, "online.txt", "--corpus", corpus).exit_code == 0
    assert [line.split()[2] for line in (tmp_path / "own.txt").read_text().splitlines()] == \
        [line.split()[2] for line in (tmp_path / "online.txt").read_text().splitlines()]


@pytest.mark.parametrize("problem", ["another text", "corpus moved"])
def test_rerank_checks_candidate_texts_against_the_corpus_the_index_encoded(tmp_path: Path, problem: str) -> None:
    """Texts from a candidate file have no corpus fingerprint: each docid the index holds must have the text the index
    encoded, read from its corpus (checked by fingerprint); a corpus that cannot be read is not taken on trust."""
    corpus, index = encoded_tiny(tmp_path)
    candidates = tmp_path / "candidates.json"
    texts = {"d1": "cats purr", "d2": "dogs bark", "d3": "a passage the index does not hold"}
    topics, run = {"q1": Query("q1", "the stock market")}, {"q1": [Candidate(d, 3.0 - i) for i, d in enumerate(texts)]}
    write_candidates(candidates, topics, run, texts)
    assert rerank_cli(tmp_path, "same.txt", "--candidates", candidates, "--dense-index", index).exit_code == 0
    if problem == "another text":
        write_candidates(candidates, topics, run, texts | {"d2": "the stock market fell"})
        expected = (f"docid 'd2' has another text in {candidates} than in {corpus / 'corpus.jsonl'}, the corpus it was encoded "
                    "from")
    else:
        (corpus / "corpus.jsonl").rename(tmp_path / "moved.jsonl")
        expected = (f"the texts of {candidates} cannot be checked against the corpus it was encoded from "
                    f"({corpus / 'corpus.jsonl'}: missing)")
    error = one_error(rerank_cli(tmp_path, "wrong.txt", "--candidates", candidates, "--dense-index", index))
    assert error == (f"Error: {index}: {expected}; rerank without its vectors, or encode those passages into a dense index of "
                     "their own\n")
    assert not list(tmp_path.glob("wrong.txt*"))


@pytest.mark.parametrize("entry", ["rerank_run", "rerank", "iter_rerank"])
def test_python_rerank_checks_passages_against_the_corpus_the_index_encoded(tmp_path: Path, entry: str) -> None:
    """A reranker loaded with a dense index scored another corpus's d1 ("the stock market fell") with the encoded d1's
    vector ("cats purr") in memory, as ``rerank --dense-index`` did before it checked: the library path checks too."""
    import resrank_eval as rr
    from resrank_eval.errors import ResrankError

    corpus, index = encoded_tiny(tmp_path)
    reranker = rr.load_reranker("encoder", model=BUNDLED_MODEL, dense_index=str(index))
    topics, run = {"q1": Query("q1", "the stock market")}, {"q1": [Candidate("d2", 2.0), Candidate("d1", 1.0)]}

    def rerank(texts: dict[str, str]) -> list[str]:
        if entry == "rerank_run":
            return [c.docid for c in rr.rerank_run(reranker, topics, run, texts, top_k=2).run["q1"]]
        if entry == "iter_rerank":
            return [c.docid for _, result in rr.iter_rerank(reranker, rr.to_rankings(topics, run, texts)) for c in result.candidates]
        return [c.docid for c in rr.rerank(reranker, rr.to_rankings(topics, run, texts))[0].candidates]

    assert sorted(rerank({"d1": "cats purr", "d2": "dogs bark"})) == ["d1", "d2"]  # the texts it encoded
    with pytest.raises(ResrankError) as refused:
        rerank({"d1": "the stock market fell", "d2": "dogs bark"})
    assert str(refused.value) == (f"{index}: docid 'd1' has another text in the passages given than in {corpus / 'corpus.jsonl'}, "
                                  "the corpus it was encoded from; rerank without its vectors, or encode those passages into "
                                  "a dense index of their own")


def test_a_dense_index_reads_the_corpus_it_encoded_once(tmp_path: Path) -> None:
    """Every rerank by a reranker loaded with a dense index read its record and hashed and read its corpus again (a dev
    set reranked each epoch re-read a corpus of gigabytes): the index keeps the texts' hashes from the first, so its
    corpus moved away after it, the next reranks are still checked, reading no file."""
    import resrank_eval as rr
    from resrank_eval.errors import ResrankError

    corpus, index = encoded_tiny(tmp_path)
    reranker = rr.load_reranker("encoder", model=BUNDLED_MODEL, dense_index=str(index))
    topics, run = {"q1": Query("q1", "the stock market")}, {"q1": [Candidate("d2", 2.0), Candidate("d1", 1.0)]}
    encoded = {"d1": "cats purr", "d2": "dogs bark"}
    assert len(rr.rerank(reranker, rr.to_rankings(topics, run, encoded))[0].candidates) == 2
    (corpus / "corpus.jsonl").rename(tmp_path / "moved.jsonl")
    assert len(rr.rerank(reranker, rr.to_rankings(topics, run, encoded))[0].candidates) == 2
    with pytest.raises(ResrankError, match="docid 'd1' has another text in the passages given than in "):
        rr.rerank(reranker, rr.to_rankings(topics, run, encoded | {"d1": "the stock market fell"}))


@pytest.mark.parametrize("rule", ["--remove-query", None, "--keep-query"])
def test_dense_retrieval_drops_the_self_hit_as_bm25_does(tmp_path: Path, rule: str | None) -> None:
    """BEIR's rule (on for a BEIR folder, as in Pyserini's dense BEIR runs): a passage whose docid is the qid is no hit.
    Dense retrieval ignored it, even ``--remove-query`` given, and recorded it as in effect: q1 found itself first and its
    run scored nDCG@10 0.63 instead of 1.0 (ArguAna's queries are all in its corpus), exit 0."""
    texts = {"d1": "processed meat and colorectal cancer", "q1": "does red meat cause colon cancer", "d2": "dogs bark"}
    corpus = tiny_beir(tmp_path / "tiny", texts, "does red meat cause colon cancer")
    index, run = tmp_path / "index", tmp_path / "run.txt"
    assert run_cli("encode", "--dataset", "tiny", "--corpus", corpus, "--model", BUNDLED_MODEL, "--index", index).exit_code == 0
    result = run_cli("retrieve", "--dataset", "tiny", "--corpus", corpus, "--method", "dense", "--model", BUNDLED_MODEL,
                     "--index", index, "--hits", "2", "--output", run, *([rule] if rule else []))
    assert result.exit_code == 0, result.output
    docids = [line.split()[2] for line in run.read_text().splitlines()]
    assert docids == (["q1", "d1"] if rule == "--keep-query" else ["d1", "d2"])
