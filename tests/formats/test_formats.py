"""TREC runs, qrels, topics and candidate JSON: round trips and every malformed-input error."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from resrank_eval.errors import InputError
from resrank_eval.formats.candidates import read_candidates, write_candidates
from resrank_eval.formats.topics import read_topics
from resrank_eval.formats.trec import read_qrels, read_run, write_run
from resrank_eval.numeric import strictly_decreasing
from resrank_eval.rerank.generative.prompt import rank_llm_content, truncate_words
from resrank_eval.types import Candidate, Passage, Query
from tests.helpers import DL19_CANDIDATES


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_round_trip_keeps_order_and_makes_ties_strict(tmp_path: Path) -> None:
    run = {"q1": [Candidate("d1", 2.0), Candidate("d2", 2.0), Candidate("d3", 1.0)]}
    write_run(tmp_path / "r.txt", run, "tag")
    lines = (tmp_path / "r.txt").read_text().splitlines()
    scores = [float(line.split()[4]) for line in lines]
    assert [line.split()[2] for line in lines] == ["d1", "d2", "d3"]
    assert scores[0] > scores[1] > scores[2]
    assert [c.docid for c in read_run(tmp_path / "r.txt")["q1"]] == ["d1", "d2", "d3"]


def test_a_gz_output_is_written_gzipped_and_byte_stable(tmp_path: Path) -> None:
    """Readers decompress by the ``.gz`` suffix, so writers compress by it (no time stamp: the same run, the same bytes);
    a run written as plain text under a ``.gz`` name could not be read back."""
    run = {"q1": [Candidate("d1", 2.0), Candidate("d2", 1.0)]}
    write_run(tmp_path / "r.txt.gz", run, "tag")
    first = (tmp_path / "r.txt.gz").read_bytes()
    assert gzip.decompress(first).decode() == "q1 Q0 d1 1 2.0 tag\nq1 Q0 d2 2 1.0 tag\n"
    assert read_run(tmp_path / "r.txt.gz") == run
    write_run(tmp_path / "r.txt.gz", run, "tag")
    assert (tmp_path / "r.txt.gz").read_bytes() == first


def test_read_run_orders_ties_like_trec_eval(tmp_path: Path) -> None:
    path = write(tmp_path, "r.txt", "q1 Q0 a 1 1.0 t\nq1 Q0 b 2 1.0 t\nq1 Q0 c 3 3.0 t\n")
    assert [c.docid for c in read_run(path)["q1"]] == ["c", "b", "a"]


def test_strictly_decreasing_fixes_inversions() -> None:
    out = strictly_decreasing([1.0, 1.0, 5.0, 0.5])
    assert out[0] == 1.0 and all(a > b for a, b in zip(out, out[1:]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q1 Q0 d1 1 1.0\n", "expected 6 columns"),
        ("q1 Q0 d1 1 high tag\n", "is not a number"),
        ("q1 Q0 d1 1 nan tag\n", "not finite"),
        ("q1 Q0 d1 1 2.0 tag\nq1 Q0 d2 2 -1e300 tag\n", "score \"-1e300\" is past a 32-bit float's range"),  # trec_eval's -inf
        # Python's float reads 1_0 as 10 (trec_eval's atof: 1) and other scripts' digits (atof: 0): a score is ASCII
        ("q1 Q0 d1 1 2.0 tag\nq1 Q0 d2 2 1_0 tag\n", 'score "1_0" is not a number'),
        ("q1 Q0 d1 1 \u0661 tag\n", 'score "\u0661" is not a number'),
        ("q1 Q0 d1 1 \uff11 tag\n", 'score "\uff11" is not a number'),
        ("q1 Q0 d1 1 0x1p3 tag\n", 'score "0x1p3" is not a number'),
        ("q1 Q0 d1 1 infinity tag\n", 'score "infinity" is not finite'),
        ("q1 Q0 d1 x 1.0 tag\n", "rank 'x' is not an integer"),
        ("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", "duplicate docid 'd1'"),
    ],
)
def test_malformed_run_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "bad.run", text)
    with pytest.raises(InputError, match=message) as info:
        read_run(path)
    assert str(info.value).startswith(f"{path}:{text.count(chr(10))}:")


def test_run_scores_read_as_trec_eval_reads_them(tmp_path: Path) -> None:
    """Every spelling C's strtod reads whole (less hex, inf, nan) is a score."""
    path = write(tmp_path, "ok.run", "q1 Q0 d1 1 +2 t\nq1 Q0 d2 2 1. t\nq1 Q0 d3 3 .5 t\nq1 Q0 d4 4 -1.5E+3 t\nq1 Q0 d5 5 -2e4 t\n")
    assert [c.score for c in read_run(path)["q1"]] == [2.0, 1.0, 0.5, -1500.0, -20000.0]


def test_qrels_trec_and_beir_tsv(tmp_path: Path) -> None:
    assert read_qrels(write(tmp_path, "a", "q1 0 d1 2\nq1 0 d2 0\n")) == {"q1": {"d1": 2, "d2": 0}}
    assert read_qrels(write(tmp_path, "b", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")) == {"q1": {"d1": 1}}


@pytest.mark.parametrize(("text", "line", "message"), [
    ("q1 0 d1 1\nq1 0 d1 x\n", 2, "not an integer"),
    ("q1\n", 1, "columns"),
    # a TREC line that lost its relevance would read as docid '0' judged 1017759: the first judgment fixes the columns
    ("19335 0 1017759 0\n19335 0 1017759\n", 2, r"3 columns, but line 1 has 4 \(qid iter docid rel\)"),
    ("q1 d1 1\nq1 0 d2 1\n", 2, r"4 columns, but line 1 has 3 \(qid docid rel\)"),
    ("query-id\tcorpus-id\tscore\nq1\t0\td1\t1\n", 2, r"4 columns, but line 1 has 3 \(qid docid rel\)"),
])
def test_malformed_qrels(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "bad.qrels", text)
    with pytest.raises(InputError, match=message) as info:
        read_qrels(path)
    assert str(info.value).startswith(f"{path}:{line}:")


def test_topics_tsv_gz_and_jsonl(tmp_path: Path) -> None:
    gz = tmp_path / "t.tsv.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write("1\tfirst query\n2\tsecond\n")
    assert read_topics(gz)["1"].text == "first query"
    jsonl = write(tmp_path, "q.jsonl", '{"_id": "a", "text": "hello"}\n')
    assert read_topics(jsonl)["a"].text == "hello"


@pytest.mark.parametrize(("text", "message"), [("", "empty"), ("1 no tab\n", "qid<TAB>"), ('{"_id": 1\n', "invalid JSON")])
def test_bad_topics(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_topics(write(tmp_path, "t.tsv", text))


def test_candidates_import_export_round_trip(tmp_path: Path) -> None:
    data = read_candidates(DL19_CANDIDATES)
    assert len(data.run) == 43 and all(len(c) == 100 for c in data.run.values())
    write_candidates(tmp_path / "c.json", data.topics, data.run, data.passages)
    again = read_candidates(tmp_path / "c.json")
    assert again.run.keys() == data.run.keys()
    qid = next(iter(data.run))
    assert again.run[qid][0].docid == data.run[qid][0].docid and again.topics[qid] == data.topics[qid]


def parts(text: str) -> tuple[str, str, str]:
    """A passage's title, body and the string rerankers read (a plain string has no title)."""
    return (text.title, text.body, str(text)) if isinstance(text, Passage) else ("", text, text)


def test_titled_passages_round_trip_through_candidate_json(tmp_path: Path) -> None:
    """A titled passage was exported as its plain string ``T body``, so RankGPT's code prompted other bytes from our file than
    our ``rankgpt`` protocol did from the passage; it is written as RankGPT's retrieval writes one and read back the same."""
    passages = {"d1": Passage("Ünïcödé T", "body\twith\ttabs\nand 東京 [1]"), "d2": "no title"}
    path = tmp_path / "c.json"
    write_candidates(path, {"q1": Query("q1", "q")}, {"q1": [Candidate("d1", 2.0), Candidate("d2", 1.0)]}, passages)
    contents = [hit["content"] for hit in json.loads(path.read_text(encoding="utf-8"))[0]["hits"]]
    assert contents == ["Title: Ünïcödé T Content: body\twith\ttabs\nand 東京 [1]", "no title"]
    back = read_candidates(path).passages
    assert {d: parts(t) for d, t in back.items()} == {d: parts(t) for d, t in passages.items()}
    assert parts(back["d1"]) == ("Ünïcödé T", "body\twith\ttabs\nand 東京 [1]", "Ünïcödé T body\twith\ttabs\nand 東京 [1]")
    for docid, content in zip(passages, contents, strict=True):
        rankgpt = " ".join(content.replace("Title: Content: ", "").split()[:300])  # rank_gpt.py's create_permutation_instruction
        assert truncate_words(passages[docid], 300) == rankgpt == truncate_words(back[docid], 300)


@pytest.mark.parametrize(
    ("content", "title", "text"),
    [
        ("Title: T Content: body", "T", "T body"),
        ("Title: Content: body", "", "body"),  # RankGPT's form of an empty title (its whitespace joined), which its prompt drops
        ("Title: A Content: B Content: C", "A", "A B Content: C"),  # split at the first separator
        ("Title: no separator", "", "Title: no separator"),
        ("A Title: T Content: body", "", "A Title: T Content: body"),
    ],
)
def test_candidate_content_title_form(tmp_path: Path, content: str, title: str, text: str) -> None:
    hits = [{"content": content, "qid": "q1", "docid": d, "score": s} for d, s in [("d1", 2.0)]]
    passage = read_candidates(write(tmp_path, "c.json", json.dumps([{"query": "q", "hits": hits}]))).passages["d1"]
    assert parts(passage)[::2] == (title, text)
    assert truncate_words(passage, 300) == truncate_words(content, 300)  # the prompts show what the file says
    assert rank_llm_content(passage, 300) == rank_llm_content(content.removeprefix("Title: Content: "), 300)  # and no empty title


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"query": "q"}, "needs a string 'query' and a list 'hits'"),
        ({"query": "q", "hits": [{"qid": 1, "docid": "d", "score": 1}]}, "entry 0, hit 0: missing content"),
        ({"query": "q", "hits": [{"qid": 1, "docid": "d", "score": "x", "content": ""}]}, "not a number"),
    ],
)
def test_bad_candidates(tmp_path: Path, payload: dict, message: str) -> None:
    path = write(tmp_path, "c.json", json.dumps([payload]))
    with pytest.raises(InputError, match=message):
        read_candidates(path)


def test_candidates_invalid_json_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", '[\n{"query": \n')
    with pytest.raises(InputError, match=r"c.json:\d+: invalid JSON"):
        read_candidates(path)


def test_a_build_removes_only_its_own_targets_leftovers(tmp_path: Path) -> None:
    """The leftovers were found by the target's name read as a glob pattern: building ``m[1]`` removed the temp folder of
    ``m1``, another target's build."""
    from resrank_eval.formats.atomic import build_lock, temp_folder

    other, own = temp_folder(tmp_path / "m1"), temp_folder(tmp_path / "m[1]")
    with build_lock(tmp_path / "m[1]"):
        pass
    assert other.is_dir() and not own.exists()
