"""BM25 over a real Lucene index of the real NFCorpus: Pyserini's published numbers, caching."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from resrank_eval.cli.resolve import passage_source
from resrank_eval.datasets import get_dataset
from resrank_eval.errors import ResrankError
from resrank_eval.evaluate import evaluate
from resrank_eval.formats.corpus import iter_corpus, load_passages
from resrank_eval.jvm import pyserini_module
from resrank_eval.lucene import lucene_passages, open_searcher
from resrank_eval.model.sources import BUNDLED_NFCORPUS_INDEX
from resrank_eval.retrieve.bm25 import bm25_index, bm25_search, index_step
from resrank_eval.types import Passage
from tests.helpers import assert_one_line_error, invoke, tiny_beir


@pytest.fixture(scope="session")
def nfcorpus_run() -> dict:
    ds = get_dataset("beir/nfcorpus")
    searcher = open_searcher(bm25_index(ds.corpus_dir))
    return bm25_search(searcher, ds.topics(), hits=1000, threads=2, remove_query=True)


def test_reproduces_pyserini_bm25_flat(nfcorpus_run: dict) -> None:
    ds = get_dataset("beir/nfcorpus")
    mean = evaluate(nfcorpus_run, ds.qrels(), ds.measures).mean
    assert mean["nDCG@10"] == pytest.approx(0.3218, abs=5e-4)
    assert mean["R@100"] == pytest.approx(0.2457, abs=5e-4)
    assert mean["R@1000"] == pytest.approx(0.3704, abs=5e-4)
    assert all(len(c) <= 1000 for c in nfcorpus_run.values())
    assert all(c.docid != qid for qid, cands in nfcorpus_run.items() for c in cands)


def test_index_is_reused_and_rebuilt_when_corpus_changes(tmp_path: Path) -> None:
    corpus = tmp_path / "tiny"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text('{"_id": "d1", "title": "Cats", "text": "cats purr"}\n{"_id": "d2", "title": "", "text": "dogs bark"}\n')
    first = bm25_index(corpus)
    stamp = (first / "provenance.json").stat().st_mtime_ns
    assert bm25_index(corpus) == first and (first / "provenance.json").stat().st_mtime_ns == stamp
    (corpus / "corpus.jsonl").write_text('{"_id": "d3", "title": "", "text": "birds sing"}\n')
    second = bm25_index(corpus)
    assert second != first
    searcher = open_searcher(second)
    assert lucene_passages(searcher, ["d3"]) == {"d3": "birds sing"}
    with pytest.raises(ResrankError, match="different corpus"):
        bm25_index(corpus, first)


def test_stored_text_is_title_plus_text() -> None:
    ds = get_dataset("beir/nfcorpus")
    searcher = open_searcher(bm25_index(ds.corpus_dir))
    text = lucene_passages(searcher, ["MED-10"])["MED-10"]
    assert text.startswith("Statin Use and Breast Cancer Survival: A Nationwide Cohort Study from Finland Recent studies")
    lookup, source = passage_source(None, str(bm25_index(ds.corpus_dir)))  # what rerank --index DIR reads
    assert lookup(["MED-10"]) == {"MED-10": text} and list(source) == ["index"]


def pyserini_beir_flat_index(corpus: Path, index: Path) -> Path:
    """Pyserini's own BEIR "flat" index of ``corpus`` (a folder holding only its JSONL), built as its prebuilt ones are."""
    pyserini_module("pyserini.index.lucene")
    from jnius import autoclass

    autoclass("io.anserini.index.IndexCollection").main(
        ["-collection", "BeirFlatCollection", "-input", str(corpus), "-index", str(index), "-generator", "DefaultLuceneDocumentGenerator",
         "-threads", "1", "-storePositions", "-storeDocvectors", "-storeRaw"])
    return index


def test_an_index_gives_the_corpus_passages_titles_included_and_pyserinis_bm25(tmp_path: Path) -> None:
    """The probe: ``rerank --index DIR`` over an index ``index`` built read each passage as one ``contents`` string, its title
    lost, so the title-aware prompts (RankGPT's ``Title: T Content: body``) differed from ``rerank --corpus``'s, exit 0. The
    stored raw document keeps title and text apart, as Pyserini's own BEIR flat index stores the BEIR document: both read
    back the corpus's passages, titled and untitled; the searched ``contents`` is unchanged, so BM25 over either index gives
    the same scores in the same order."""
    ds = get_dataset("beir/nfcorpus")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    documents = [{"_id": d.docid, "title": d.title, "text": d.text} for _, d in zip(range(300), iter_corpus(ds.corpus_dir))]
    documents += [{"_id": "UNTITLED-1", "title": "", "text": "statin drugs and breast cancer"}, {"_id": "UNTITLED-2", "title": "",
                  "text": "Title: looks like one Content: but is text"}]
    (corpus / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents))
    ours, theirs = bm25_index(corpus), pyserini_beir_flat_index(corpus, tmp_path / "pyserini")

    def parts(passages: dict[str, str]) -> dict[str, tuple[str, str] | str]:
        """Each passage's title and body, or the plain string where none is kept apart."""
        return {docid: (text.title, text.body) if isinstance(text, Passage) else text for docid, text in passages.items()}

    expected = parts(load_passages(corpus))
    assert sum(1 for title, _ in expected.values() if title) == 300, "the corpus must hold titled documents"
    lookup, _ = passage_source(None, str(ours))  # what rerank --index DIR reads
    assert parts(lookup(list(expected))) == expected
    assert parts(lucene_passages(open_searcher(theirs), expected)) == expected
    topics = ds.topics()
    runs = [bm25_search(open_searcher(index), topics, hits=100, threads=2, remove_query=True) for index in (ours, theirs)]
    assert runs[0] == runs[1] and sum(map(len, runs[0].values())) > 1000


def test_bad_corpus_lines_are_located(tmp_path: Path) -> None:
    corpus = tmp_path / "bad"
    corpus.mkdir()
    with gzip.open(corpus / "corpus.jsonl.gz", "wt") as handle:
        handle.write('{"_id": "d1", "text": "ok"}\n{"text": "no id"}\n')
    with pytest.raises(ResrankError, match=r"corpus.jsonl.gz:2: document has no '_id'"):
        bm25_index(corpus)
    leftovers = list((Path(os.environ["RESRANK_CACHE"]) / "indexes").glob(".lucene-*"))
    assert not leftovers, "a failed build must not leave a half-built index behind"


def test_a_killed_build_is_cleaned_up_and_an_edited_index_never_reused(tmp_path: Path) -> None:
    """What a killed build leaves (a hidden temp folder) is removed by the next build; an index whose
    files changed since it was built is refused, naming the file."""
    corpus = tmp_path / "tiny"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text('{"_id": "d1", "text": "cats purr"}\n{"_id": "d2", "text": "dogs bark"}\n')
    target = index_step(corpus).outputs.files[0]
    killed = target.parent / f".{target.name}.k1ll3d.tmp"  # the folder a SIGKILLed build leaves behind
    (killed / "_0.cfs").parent.mkdir(parents=True)
    (killed / "_0.cfs").write_bytes(b"half an index")
    assert bm25_index(corpus) == target and not killed.exists()
    segment = next(p for p in sorted(target.iterdir()) if p.name.startswith("_") and p.stat().st_size > 0)
    segment.write_bytes(segment.read_bytes()[:-1] + b"\0")
    with pytest.raises(ResrankError, match=f"{segment.name}: changed since it was made"):
        bm25_index(corpus)
    assert not list(target.parent.glob(f".{target.name}.*"))


@pytest.mark.parametrize("broken", ["no segments file", "a dense index"])
def test_a_folder_that_is_no_readable_lucene_index_is_one_line(tmp_path: Path, broken: str) -> None:
    """``retrieve --index DIR`` over a Lucene index missing its segments file, or over a dense index, was an internal
    JavaException; it is a one-line error naming the folder, and no run is written."""
    corpus = tiny_beir(tmp_path / "tiny", {"d1": "cats nap", "d2": "dogs dig"}, "cats")
    index = Path(shutil.copytree(bm25_index(corpus), tmp_path / "index"))
    if broken == "no segments file":  # in another tool's index (one `index` made says which file is missing: below)
        next(index.glob("segments_*")).unlink()
        (index / "provenance.json").unlink()
    else:
        shutil.rmtree(index)
        index = Path(shutil.copytree(BUNDLED_NFCORPUS_INDEX, tmp_path / "dense"))
    run = tmp_path / "run.txt"
    result = invoke("retrieve", "--dataset", "tiny", "--corpus", str(corpus), "--index", str(index), "--output", str(run))
    assert_one_line_error(result, f"{index}: not a readable Lucene index")
    assert "internal error" not in result.output and not run.exists()


@pytest.mark.parametrize("command", ["retrieve", "rerank"])
@pytest.mark.parametrize("damage", ["a byte flipped", "a file deleted"])
def test_an_index_changed_since_it_was_made_is_refused_where_it_is_passed(tmp_path: Path, command: str, damage: str) -> None:
    """The probe: a byte flipped in a segment of an index `index` made, passed as ``retrieve --index DIR``, gave another run
    (23 of NFCorpus's 323 queries ranked otherwise by the norms flipped here) with exit 0, its record naming the index by
    the digests of the index's record, as if untouched; only the cached index was checked. Lucene checks a segment's
    checksum when it merges, not when it searches. An index with no record (another tool's) is read as it is."""
    index = Path(shutil.copytree(bm25_index(get_dataset("beir/nfcorpus").corpus_dir), tmp_path / "index"))
    norms = index / "_0.nvd"
    if damage == "a byte flipped":
        data = bytearray(norms.read_bytes())
        data[len(data) // 2] ^= 0x10
        norms.write_bytes(bytes(data))
    else:
        norms.unlink()
    topics, first, out = tmp_path / "topics.tsv", tmp_path / "first.txt", tmp_path / "out.txt"
    topics.write_text("PLAIN-2\tDo Cholesterol Statin Drugs Cause Breast Cancer?\n")
    first.write_text("PLAIN-2 Q0 MED-10 1 1.0 bm25\n")
    line = ["retrieve", "--dataset", "beir/nfcorpus"] if command == "retrieve" else \
        ["rerank", "--dataset", "dl19", "--run", str(first), "--reranker", "identity"]  # dl19 has no corpus: texts from --index
    line += ["--topics", str(topics), "--index", str(index), "--output", str(out)]
    assert_one_line_error(invoke(*line), f"{norms}: {'changed since it was made' if damage == 'a byte flipped' else 'missing'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.txt", "index", "topics.tsv"]
    if damage == "a byte flipped":
        (index / "provenance.json").unlink()
        result = invoke(*line)
        assert result.exit_code == 0 and out.is_file(), result.output


def test_hits_beyond_the_corpus_return_the_whole_corpus(tmp_path: Path) -> None:
    """``--hits 2147483647`` (Java's largest int; "all of them"): the BEIR self-hit rule searched one deeper, past the int
    Pyserini's search takes, and the command died with an internal JavaException. The depth is the corpus at most."""
    corpus = tiny_beir(tmp_path / "tiny", {"d1": "cats purr", "d2": "cats and dogs"}, "cats")
    runs = {}
    for hits in ("1000", "2147483647"):
        runs[hits] = tmp_path / f"run.{hits}.txt"
        result = invoke("retrieve", "--dataset", "tiny", "--corpus", str(corpus), "--hits", hits, "--output", str(runs[hits]))
        assert result.exit_code == 0, result.output
    assert runs["2147483647"].read_text() == runs["1000"].read_text() and runs["1000"].read_text().count("\n") == 2


def test_searching_on_several_threads_gives_the_one_thread_run() -> None:
    """``threads`` > 1 searches each batch with Pyserini's ``batch_search`` (what ``retrieve`` runs by default), 1 with
    ``search`` query by query: the same hits with the same scores in the same order, whatever the batches (7 does not
    divide the 30 queries)."""
    ds = get_dataset("beir/nfcorpus")
    searcher = open_searcher(bm25_index(ds.corpus_dir))
    topics = dict(list(ds.topics().items())[:30])
    one = bm25_search(searcher, topics, hits=1000, threads=1, remove_query=True)
    several = bm25_search(searcher, topics, hits=1000, threads=3, batch_size=7, remove_query=True)
    assert list(several) == list(one) and sum(map(len, one.values())) > 15_000
    for qid, hits in one.items():
        assert several[qid] == hits, qid  # docids and float scores, equal to the last bit
