"""The online ``irds:`` dataset source: offline, one clear error line and no output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from resrank_eval.cli import main
from resrank_eval.datasets import get_dataset
from resrank_eval.datasets.dataset import Dataset
from resrank_eval.errors import InputError, ResrankError
from resrank_eval.formats.content import hit_content
from resrank_eval.formats.corpus import load_passages
from resrank_eval.formats.topics import read_topics
from resrank_eval.formats.trec import read_qrels
from tests.helpers import REPO


@pytest.mark.parametrize(("name", "fragment"), [
    ("irds:msmarco-passage/train/judged", "irds:msmarco-passage/train/judged: ir_datasets could not download its qrels"),
    ("irds:no-such/set", "ir_datasets knows no dataset 'no-such/set'"),
])
def test_build_train_from_irds_offline_is_one_error_line(name: str, fragment: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    output = tmp_path / "train.jsonl"
    result = CliRunner().invoke(main, ["build-train", "--dataset", name, "--run", str(REPO / "runs" / "dl19" / "run.dl19.bm25.txt"),
                                       "--output", str(output)], catch_exceptions=False)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 2 and len(errors) == 1 and fragment in errors[0], result.output
    assert not output.exists()


def test_irds_names_resolve_without_the_network() -> None:
    dataset = get_dataset("irds:msmarco-passage/train/judged", split="train")
    assert dataset.irds_name == "msmarco-passage/train/judged" and dataset.corpus_dir is None
    assert "ir_datasets" in dataset.sources()["qrels"]


def test_an_irds_test_set_is_its_name_s_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``irds:`` dataset's queries are its name's, whatever ``split`` said, and so was the split the guards read:
    ``build-train --dataset irds:beir/nfcorpus/test --split train`` would train on the test queries (and a dev set named
    so would select on them). The name's split is the dataset's split now, refused before anything downloads."""
    assert get_dataset("irds:beir/nfcorpus/test", split="train").split == "test"
    assert get_dataset("irds:msmarco-passage/train/judged", split="test").split == "train"
    assert get_dataset("irds:msmarco-passage/trec-dl-2019/judged", split="dev").split == "dev"  # no split in the name
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    output = tmp_path / "train.jsonl"
    result = CliRunner().invoke(main, ["build-train", "--dataset", "irds:beir/nfcorpus/test", "--split", "train", "--run",
                                       str(REPO / "runs" / "dl19" / "run.dl19.bm25.txt"), "--output", str(output)])
    assert result.exit_code == 2 and "refusing to build training data from the test split" in result.output, result.output
    assert not output.exists() and not (tmp_path / "irds").exists()


def test_irds_passages_keep_their_title_as_the_beir_corpus_reader_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Probe: an ``irds:`` BEIR set's passages were ir_datasets' ``default_text()``, "title text" in one string (and " text"
    for an empty title), where the BEIR corpus reader and Lucene indexes give the title apart: the prompts that show
    ``Title: ... Content: ...`` (RankGPT, rank_llm) lost it. Real ir_datasets datasets over local files, no network: its
    BEIR docs class (as ``beir/scifact`` defines it) and its TSV docs class (as ``msmarco-passage`` does, no title)."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset as IrDataset
    from ir_datasets.datasets.beir import BeirDocs, BeirTitleDoc
    from ir_datasets.formats import TsvDocs
    from ir_datasets.util import LocalDownload

    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "title": "Birds", "text": "Birds sing at dawn."}\n'
                      '{"_id": "d2", "title": "", "text": "An untitled passage."}\n')
    collection = tmp_path / "collection.tsv"
    collection.write_text("7\tThe presence of communication amid scientific minds.\n")
    beir, marco = f"resrank-test/{tmp_path.name}/beir", f"resrank-test/{tmp_path.name}/marco"
    ir_datasets.registry.register(beir, IrDataset(BeirDocs(beir, LocalDownload(corpus), BeirTitleDoc)))
    ir_datasets.registry.register(marco, IrDataset(TsvDocs(LocalDownload(collection))))

    expected = {docid: (p.title, p.body) for docid, p in load_passages(corpus).items()}
    assert expected == {"d1": ("Birds", "Birds sing at dawn."), "d2": ("", "An untitled passage.")}
    titled = get_dataset(f"irds:{beir}", split="test")
    for passages in (titled.passages(), titled.passages(["d2", "d1"])):  # whole corpus, and the docstore's lookup
        assert passages == load_passages(corpus)
        assert [hit_content(passages[d]) for d in ("d1", "d2")] == ["Title: Birds Content: Birds sing at dawn.", "An untitled passage."]
        assert {docid: (p.title, p.body) for docid, p in passages.items()} == expected
    untitled = get_dataset(f"irds:{marco}", split="test").passages(["7"])
    assert untitled == {"7": "The presence of communication amid scientific minds."}
    assert hit_content(untitled["7"]) == "The presence of communication amid scientific minds."


def local_irds(tmp_path: Path, queries: str, qrels: str) -> Dataset:
    """A real ir_datasets dataset over local files, no network: its queries BEIR JSONL (as ``beir/*`` reads them) when they
    start with ``{``, else TSV (as ``msmarco-passage`` does), and TREC qrels."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset as IrDataset
    from ir_datasets.datasets.beir import BeirQueries
    from ir_datasets.formats import GenericQuery, TrecQrels, TsvQueries
    from ir_datasets.util import LocalDownload

    (tmp_path / "queries").write_text(queries, encoding="utf-8")
    (tmp_path / "qrels").write_text(qrels, encoding="utf-8")
    name = f"resrank-test/{tmp_path.name}/local"
    download = LocalDownload(tmp_path / "queries")
    topics = BeirQueries(name, download, GenericQuery) if queries.startswith("{") else TsvQueries(download)
    ir_datasets.registry.register(name, IrDataset(topics, TrecQrels(LocalDownload(tmp_path / "qrels"), {})))
    return get_dataset(f"irds:{name}", split="test")


@pytest.mark.parametrize(("queries", "qrels", "part", "error"), [
    ("q 1\tbirds at dawn\n", "q1 0 d1 1\n", "topics", 'its queries: entry 1: qid "q 1" contains whitespace'),
    ("q\u200b1\tbirds at dawn\n", "q1 0 d1 1\n", "topics",
     'its queries: entry 1: qid "q\\u200b1" contains U+200B (ZERO WIDTH SPACE)'),
    ("q1\tbirds at dawn\n", "q\x071 0 d1 1\n", "qrels", 'its qrels: entry 1: qid "q\\u00071" contains a control character'),
    ("q1\tbirds at dawn\n", "q1 0 d\u00ad1 1\n", "qrels", 'its qrels: entry 1: docid "d\\u00ad1" contains U+00AD (SOFT HYPHEN)'),
])
def test_irds_ids_follow_the_rule_every_file_reader_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, queries: str,
                                                            qrels: str, part: str, error: str) -> None:
    """Probe: ``irds:`` topics and qrels kept ir_datasets' ids as given, so ``q 1`` (a run line that reads back as 7 columns)
    or ``d\\u00ad1`` (which matches no ``d1``) passed where every topics, qrels and run file is refused at its line."""
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    dataset = local_irds(tmp_path, queries, qrels)
    with pytest.raises(ResrankError) as info:
        getattr(dataset, part)()
    assert str(info.value).startswith(f"{dataset.name}: {error}"), info.value


BLANK = "a query's 'text' must be a non-empty string"


@pytest.mark.parametrize(("queries", "qrels", "part", "error", "file_error"), [
    ("q1\tbirds\nq2\tfish\nq1\tbirds at dawn\n", "q1 0 d1 1\n", "topics", "duplicate qid 'q1' (first at entry 1)", None),
    ('{"_id": "q1", "text": "birds"}\n{"_id": "q1", "text": "fish"}\n', "q1 0 d1 1\n", "topics",
     "duplicate qid 'q1' (first at entry 1)", None),
    ("q1\tbirds\n", "q1 0 d1 1\nq1 0 d2 0\nq1 0 d1 0\n", "qrels", "query 'q1' judges docid 'd1' twice (first at entry 1)", None),
    ("q1\tbirds\nq2\t \u200b\n", "q1 0 d1 1\n", "topics", BLANK, "expected 'qid<TAB>query text'"),  # the layout's words
    ('{"_id": "q1", "text": ""}\n', "q1 0 d1 1\n", "topics", BLANK, None),
    ('{"_id": "q1", "text": "birds \\ud800"}\n', "q1 0 d1 1\n", "topics",
     "a query's 'text' is not valid Unicode (a lone surrogate)", None),
])
def test_irds_topics_and_qrels_are_refused_where_their_files_would_be(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      queries: str, qrels: str, part: str, error: str,
                                                                      file_error: str | None) -> None:
    """Probe: ``irds:`` topics and qrels took what their file readers refuse: a qid or a judgment given twice (the later
    text or label silently replacing the first), a blank query (whitespace, a zero-width space) and a lone surrogate (a
    JSON ``\\ud800``, which no tokenizer or file takes). Each is refused now with the file reader's words, naming the dataset,
    the part and the entry (from 1) where the file reader names its line, as the same files read as topics and qrels are."""
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    dataset = local_irds(tmp_path, queries, qrels)
    where, text, read = ("queries", queries, read_topics) if part == "topics" else ("qrels", qrels, read_qrels)
    entry = len(text.splitlines())  # the last: each case's fault
    said = (file_error or error).replace("entry", "line")
    with pytest.raises(InputError, match=re.escape(f":{entry}: {said}")):
        read(tmp_path / where)  # local_irds' file of that part
    with pytest.raises(ResrankError) as info:
        getattr(dataset, part)()
    assert str(info.value).startswith(f"{dataset.name}: its {where}: entry {entry}: {error}"), info.value
