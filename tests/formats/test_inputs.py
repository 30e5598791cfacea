"""Bad input at the readers and writers: ids, scores, duplicates, BOMs, encodings, gzip, JSON positions.

Every reader applies one id rule (:mod:`resrank_eval.formats.ids`); every writer checks again, so
nothing is written that its own reader refuses.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from resrank_eval.errors import InputError, ResrankError
from resrank_eval.formats.candidates import read_candidates, write_candidates
from resrank_eval.formats.corpus import iter_corpus, write_corpus
from resrank_eval.formats.ids import check_id, check_score, is_blank
from resrank_eval.formats.jsonl import iter_jsonl, read_json
from resrank_eval.formats.msmarco import read_msmarco_run
from resrank_eval.formats.requests import write_requests
from resrank_eval.formats.topics import read_topics, write_topics
from resrank_eval.formats.trec import read_qrels, read_run, write_run
from resrank_eval.types import Candidate, Query


def hit(docid: object, qid: object = "q1", score: object = 1.0, content: object = "text") -> dict:
    return {"content": content, "qid": qid, "docid": docid, "rank": 1, "score": score}


def candidates_file(tmp_path: Path, entries: list) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(entries))
    return path


@pytest.mark.parametrize("value", ["", "a b", "a\tb", None, {"id": 1}, 1.5, True, ["d"]])
def test_one_id_rule(value: object) -> None:
    with pytest.raises(ValueError):
        check_id(value, "docid")
    assert check_id(264014, "qid") == "264014" and check_id("MED-10") == "MED-10"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan", "-inf", None, "high", -1e300, 3.5e38,
                                   "1_0", "\u0661", " 1", "1\u2003", "0x10", "1e"])
def test_scores_are_finite_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        check_score(value)


# -- ids and duplicates: writers never emit what their own reader rejects ------------------------------------------------


@pytest.mark.parametrize(
    ("bad_hit", "message"),
    [
        (hit(None), "docid must be a string, got null"),
        (hit({"x": 1}), "docid must be a string, got an object"),
        (hit(""), "docid is empty"),
        (hit("d 1"), 'docid "d 1" contains whitespace'),
        (hit("d1", qid="q 1"), 'qid "q 1" contains whitespace'),
        (hit("d1", score=float("nan")), "score NaN is not finite"),
        (hit("d1", score="NaN"), 'score "NaN" is not finite'),
        (hit("d1", content=None), "content of 'd1' must be a string"),
    ],
)
def test_candidate_ids_and_scores_are_checked_at_the_source(tmp_path: Path, bad_hit: dict, message: str) -> None:
    path = candidates_file(tmp_path, [{"query": "q", "hits": [hit("d0"), bad_hit]}])
    with pytest.raises(InputError, match="entry 0, hit 1: " + message.replace("(", r"\(")):
        read_candidates(path)


def test_one_docid_with_two_texts_names_both_hits(tmp_path: Path) -> None:
    path = candidates_file(tmp_path, [{"query": "a", "hits": [hit("d1", "q1", content="one")]},
                                      {"query": "b", "hits": [hit("d1", "q2", content="two")]}])
    with pytest.raises(InputError, match=r"entry 1, hit 0: docid 'd1' has a different text than at entry 0, hit 0"):
        read_candidates(path)
    same = candidates_file(tmp_path, [{"query": "a", "hits": [hit("d1", "q1")]}, {"query": "b", "hits": [hit("d1", "q2")]}])
    assert read_candidates(same).passages == {"d1": "text"}


def test_a_query_in_two_candidate_entries_is_an_error(tmp_path: Path) -> None:
    path = candidates_file(tmp_path, [{"query": "a", "hits": [hit("d1")]}, {"query": "a", "hits": [hit("d2")]}])
    with pytest.raises(InputError, match=r"entry 1, hit 0: query 'q1' already has an entry \(entry 0\)"):
        read_candidates(path)


def test_duplicate_topic_qids_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("q1\tfirst\nq2\tother\nq1\tagain\n")
    with pytest.raises(InputError, match=r"t.tsv:3: duplicate qid 'q1' \(first at line 1\)"):
        read_topics(path)


@pytest.mark.parametrize(("text", "message"), [("q 1\tquery\n", 'qid "q 1" contains whitespace'),
                                               ('{"_id": null, "text": "x"}\n', "qid must be a string, got null"),
                                               ('{"_id": "q1", "text": 5}\n', "a query's 'text' must be a non-empty string")])
def test_bad_topic_ids_and_texts_are_refused_at_their_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=f":1: {message}"):
        read_topics(path)


def test_duplicate_and_whitespace_corpus_ids_are_refused_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": "d1", "text": "c"}\n')
    with pytest.raises(InputError, match=r"corpus.jsonl:3: duplicate _id 'd1' \(first at line 1\)"):
        list(iter_corpus(path))
    path.write_text('{"_id": "d 1", "text": "a"}\n')
    with pytest.raises(InputError, match=r'corpus.jsonl:1: _id "d 1" contains whitespace'):
        list(iter_corpus(path))


def test_duplicate_judgments_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d2 0\nq1 0 d1 2\n")
    with pytest.raises(InputError, match=r"qrels.txt:3: query 'q1' judges docid 'd1' twice \(first at line 1\)"):
        read_qrels(path)


@pytest.mark.parametrize("number", ["1_0", "\u0661", "\u00b2", "1.0"])
def test_ranks_and_relevance_are_ascii_integers_as_trec_eval_reads_them(tmp_path: Path, number: str) -> None:
    """Probe: ``int`` read the relevance ``1_0`` as 10 (trec_eval: 1), and Arabic-Indic ``١`` as 1, with exit 0; an MS MARCO
    rank ``²`` passed ``isdigit`` and then failed ``int`` with a traceback. Each is now refused at its line."""
    qrels = tmp_path / "q.txt"
    qrels.write_text(f"q1 0 d0 1\nq1 0 d1 {number}\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"q.txt:2: relevance '{number}' is not an integer"):
        read_qrels(qrels)
    run = tmp_path / "r.txt"
    run.write_text(f"q1 Q0 d1 {number} 2.0 t\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"r.txt:1: rank '{number}' is not an integer"):
        read_run(run)
    msmarco = tmp_path / "r.tsv"
    msmarco.write_text(f"q1\td1\t{number}\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"r.tsv:1: rank '{number}' is not an integer"):
        read_msmarco_run(msmarco)


def test_duplicate_run_lines_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("q1 Q0 d1 1 3 t\nq1 Q0 d2 2 2 t\nq1 Q0 d1 3 1 t\n")
    with pytest.raises(InputError, match=r"r.txt:3: duplicate docid 'd1' for query 'q1' \(first at line 1\)"):
        read_run(path)


@pytest.mark.parametrize("run", [{"q1": [Candidate("d 1", 1.0)]}, {"q 1": [Candidate("d1", 1.0)]},
                                 {"q1": [Candidate("", 1.0)]}, {"q1": [Candidate("d1", float("nan"))]},
                                 {"q1": [Candidate("d1", 2.0), Candidate("d1", 1.0)]},
                                 {"q1": [Candidate("d1", -1e300), Candidate("d2", -1e300)]},
                                 # tied at float32's lowest score, where a nudge down gave -inf
                                 {"q1": [Candidate(docid, float(np.finfo(np.float32).min)) for docid in ("d1", "d2")]}])
def test_writers_refuse_what_readers_reject_and_leave_nothing(tmp_path: Path, run: dict) -> None:
    with pytest.raises(ResrankError, match="cannot write") as info:
        write_run(tmp_path / "r.txt", run, "tag")
    assert str(info.value).startswith(f"{tmp_path / 'r.txt'}: cannot write query ")  # names the file (convert-run named none)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ResrankError, match="cannot write the corpus"):
        write_corpus(tmp_path / "c.jsonl", {"d 1": "text"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("topics", "run", "message"), [
    ({}, {"q1": [Candidate("d1", 1.0)]}, "1 run queries have no topic text"),
    ({"q1": Query("q1", "q")}, {"q1": [Candidate("d1", float("nan"))]}, "cannot write candidates: score of 'd1' NaN is not finite"),
])
@pytest.mark.parametrize("writer", [write_candidates, write_requests])
def test_both_candidate_writers_refuse_what_readers_reject_and_leave_nothing(tmp_path: Path, writer: Callable, topics: dict,
                                                                            run: dict, message: str) -> None:
    """Probe: :func:`write_requests` checked nothing (a missing topic was a KeyError, a NaN score written as ``NaN``)."""
    with pytest.raises(ResrankError, match=re.escape(message)):
        writer(tmp_path / "c.jsonl", topics, run, {"d1": "text"})
    assert list(tmp_path.iterdir()) == []


def test_topics_writer_keeps_one_line_per_query(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    write_topics(path, {"q1": Query("q1", "two\nlines\tand a tab"), "q2": Query("q2", "plain")})
    assert path.read_text() == "q1\ttwo lines and a tab\nq2\tplain\n"
    assert read_topics(path)["q1"].text == "two lines and a tab"


INVISIBLE = "\u200b\u200c\ufeff"
"""Zero-width space, zero-width non-joiner, BOM: Unicode format characters (category Cf), nothing a reader sees."""


def test_text_of_only_whitespace_control_and_invisible_characters_is_blank(tmp_path: Path) -> None:
    """Probe: such a query or passage was read as text, where a blank one is refused."""
    assert is_blank("") and is_blank(INVISIBLE) and is_blank(f" \t{INVISIBLE}\u2060\n")
    assert is_blank("\x00\x01") and is_blank("\x1b\x7f\x9f")  # control characters (Cc): tokenizers drop them
    assert not is_blank(f"{INVISIBLE}a") and not is_blank("\u00e9") and not is_blank("\x00a")
    path = tmp_path / "t.tsv"
    path.write_text(f"q1\t {INVISIBLE}\n", encoding="utf-8")
    with pytest.raises(InputError, match="t.tsv:1: expected 'qid<TAB>query text'"):
        read_topics(path)
    path.write_text(json.dumps({"_id": "q1", "text": INVISIBLE}) + "\n")
    with pytest.raises(InputError, match="t.tsv:1: a query's 'text' must be a non-empty string"):
        read_topics(path)
    with pytest.raises(InputError, match="query 'q1' has no text"):
        write_topics(tmp_path / "w.tsv", {"q1": Query("q1", f" {INVISIBLE}")})
    assert not (tmp_path / "w.tsv").exists()


def test_an_empty_run_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n")
    with pytest.raises(InputError, match="no run lines"):
        read_run(path)


# -- a UTF-8 BOM is stripped everywhere text is read ------------------------------------------------


def test_a_utf8_bom_is_stripped_from_runs_topics_and_qrels(tmp_path: Path) -> None:
    run = tmp_path / "r.txt"
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\n", encoding="utf-8-sig")
    assert list(read_run(run)) == ["q1"]
    topics = tmp_path / "t.tsv"
    topics.write_text("q1\tfirst\nq2\tsecond\n", encoding="utf-8-sig")
    assert list(read_topics(topics)) == ["q1", "q2"]
    qrels = tmp_path / "q.txt"
    qrels.write_text("q1 0 d1 1\n", encoding="utf-8-sig")
    assert read_qrels(qrels) == {"q1": {"d1": 1}}


def test_a_utf8_bom_is_stripped_from_json_jsonl_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "c.json.gz"
    with gzip.open(path, "wt", encoding="utf-8-sig") as handle:
        json.dump([{"query": "q", "hits": [hit("d1")]}], handle)
    assert list(read_candidates(path).run) == ["q1"]
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text('{"a": 1}\n', encoding="utf-8-sig")
    assert list(iter_jsonl(jsonl)) == [(1, {"a": 1})]


def test_a_bom_that_starts_a_later_line_is_stripped_as_after_cat_of_two_files(tmp_path: Path) -> None:
    """Probe: ``cat a.tsv b.tsv`` of two files with a BOM kept b's in the qid of its first line (``\\ufeffq2``), which then
    matched no judgment (exit 0); a JSONL file joined so was invalid JSON at that line. A BOM inside a line is text, kept."""
    bom = "\ufeff"
    topics = tmp_path / "t.tsv"
    topics.write_text(f"{bom}q1\tfirst\n{bom}q2\tsecond {bom}word\n", encoding="utf-8")
    assert {q.qid: q.text for q in read_topics(topics).values()} == {"q1": "first", "q2": f"second {bom}word"}
    qrels = tmp_path / "q.txt"
    qrels.write_text(f"{bom}q1 0 d1 1\r\n{bom}q2 0 d2 1\r\n", encoding="utf-8")
    assert read_qrels(qrels) == {"q1": {"d1": 1}, "q2": {"d2": 1}}
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(f'{bom}{{"_id": "d1", "text": "a"}}\n{bom}{{"_id": "d2", "text": "b"}}\n', encoding="utf-8")
    assert [d.docid for d in iter_corpus(corpus)] == ["d1", "d2"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("topics.tsv", "q1\tfirst\nq2\u00ad\tsecond\n", r'topics.tsv:2: qid "q2\\u00ad" contains U\+00AD \(SOFT HYPHEN\)'),
        ("queries.jsonl", '{"_id": "q1\\u200e", "text": "a"}\n', r"queries.jsonl:1: qid .* contains U\+200E \(LEFT-TO-RIGHT MARK\)"),
        ("qrels.txt", "q1 0 d1 1\nq1 0 d2\u2060 0\n", r"qrels.txt:2: docid .* contains U\+2060 \(WORD JOINER\)"),
        ("qrels.tsv", "query-id\tcorpus-id\tscore\nq1\u200b\td1\t1\n", r"qrels.tsv:2: qid .* contains U\+200B"),
        ("run.txt", "q1 Q0 d1\u200b 1 2.0 t\n", r'run.txt:1: docid "d1\\u200b" contains U\+200B \(ZERO WIDTH SPACE\)'),
        ("run.tsv", "q1\td1\ufeff\t1\n", r"run.tsv:1: docid .* contains U\+FEFF"),
        ("corpus.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": "d\\u200b2", "text": "b"}\n', r"corpus.jsonl:2: _id .* U\+200B"),
        ("c.json", json.dumps([{"query": "q", "hits": [hit("d1\u200b")]}]), r"c.json: entry 0, hit 0: docid .* U\+200B"),
        ("requests.jsonl", json.dumps({"query": {"text": "q", "qid": "q\u200d1"}, "candidates": []}) + "\n",
         r"requests.jsonl:1: request 0: qid .* U\+200D \(ZERO WIDTH JOINER\)"),
    ],
)
def test_an_invisible_format_character_in_an_id_is_refused_at_its_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    """Probe: ``d1`` followed by a zero-width space (any Unicode format character, category Cf) was read as an id that
    matched nothing in the qrels, and the score silently dropped; ``evaluate`` exited 0. A BOM starting a line is still
    the file's encoding mark (above); one after an id's first character is not."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    readers = {"topics.tsv": read_topics, "queries.jsonl": read_topics, "qrels.txt": read_qrels, "qrels.tsv": read_qrels,
               "run.txt": read_run, "run.tsv": read_msmarco_run, "corpus.jsonl": lambda p: list(iter_corpus(p)),
               "c.json": read_candidates, "requests.jsonl": read_candidates}
    with pytest.raises(InputError, match=message + ".*an invisible format character"):
        readers[name](path)


# -- a lone \r ends a line, as Python's universal newlines and Pyserini's Java readers end one ----------------------------


def test_old_mac_line_endings_end_lines_and_keep_line_numbers(tmp_path: Path) -> None:
    """Probe: a file whose lines end in a lone ``\\r`` was one line, so every later topic became part of the first one's text
    (exit 0). Each ``\\r`` now ends a line; ``\\r\\n`` still ends one line, and errors count lines as editors do."""
    topics = tmp_path / "t.tsv"
    topics.write_bytes(b"q1\tfirst\rq2\tsecond\r\nq3\tthird\r")
    assert {q.qid: q.text for q in read_topics(topics).values()} == {"q1": "first", "q2": "second", "q3": "third"}
    run = tmp_path / "r.txt.gz"
    run.write_bytes(gzip.compress(b"q1 Q0 d1 1 2.0 t\rq1 Q0 d2 2 1.0 t\r"))
    assert [c.docid for c in read_run(run)["q1"]] == ["d1", "d2"]
    qrels = tmp_path / "q.txt"
    qrels.write_bytes(b"q1 0 d1 1\r\rq1 0 d2\r")
    with pytest.raises(InputError, match=r"q.txt:3: got 3 columns, but line 1 has 4"):
        read_qrels(qrels)


@pytest.mark.parametrize(
    ("name", "lines", "message"),
    [
        ("queries.jsonl", ['{"_id": "q1", "text": "a"}', '{"_id": "q2", "text": "b \\ud800"}'],
         "queries.jsonl:2: a query's 'text' is not valid Unicode"),
        ("queries.jsonl", ['{"_id": "q\\uDC00", "text": "a"}'], "queries.jsonl:1: qid is not valid Unicode"),
        ("corpus.jsonl", ['{"_id": "d1", "text": "a"}', '{"_id": "d2", "text": "b \\udfff \\ud83d"}'],
         "corpus.jsonl:2: document 'text' is not valid Unicode"),
        ("corpus.jsonl", ['{"_id": "d1", "title": "\\ud800", "text": "a"}'], "corpus.jsonl:1: document 'title' is not valid Unicode"),
        ("corpus.jsonl", ['{"_id": "d\\ud800", "text": "a"}'], "corpus.jsonl:1: _id is not valid Unicode"),
    ],
)
def test_a_lone_surrogate_is_refused_at_its_line(tmp_path: Path, name: str, lines: list[str], message: str) -> None:
    """Probe: JSON's ``\\ud800`` escape read as a lone surrogate in a query, passage or id, was accepted, and failed when
    written with "'utf-8' codec can't encode ...", naming no file."""
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message + r" \(a lone surrogate\)"):
        read_topics(path) if name == "queries.jsonl" else list(iter_corpus(path))


def request(qid: str = "q1", text: str = "q", doc: object = "passage") -> dict:
    return {"query": {"text": text, "qid": qid}, "candidates": [{"docid": "d1", "score": 1.0, "doc": doc}]}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.json", [{"query": "q", "hits": [hit("d0"), hit("d1", content="a \ud800")]}], "c.json: entry 0, hit 1: content of 'd1'"),
        ("c.json.gz", [{"query": "q\udfff", "hits": [hit("d1")]}], "c.json.gz: entry 0: query"),
        ("requests.json", [request(doc={"title": "\ud800", "text": "b"})], "requests.json: request 0, candidate 0: doc of 'd1'"),
        ("requests.json", [request(text="\udc00")], "requests.json: request 0: query 'text'"),
        ("requests.jsonl", [request(), request("q2", doc={"contents": "\ud83d"})], "requests.jsonl:2: request 1, candidate 0: doc of 'd1'"),
    ],
)
def test_a_lone_surrogate_in_a_candidate_file_is_refused_where_it_is_read(tmp_path: Path, name: str, content: list,
                                                                          message: str) -> None:
    """Probe: a RankGPT or rank_llm candidate file whose query or passage held JSON's ``\\ud800`` escape was read, and
    ``import-candidates`` then failed with "'utf-8' codec can't encode character '\\ud800' ...", naming no file."""
    path = tmp_path / name
    if name.endswith(".jsonl"):
        text = "".join(json.dumps(record) + "\n" for record in content)
    else:
        text = json.dumps(content)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    with pytest.raises(InputError, match=re.escape(message) + r" is not valid Unicode \(a lone surrogate\)"):
        read_candidates(path)


def test_a_surrogate_pair_is_one_character(tmp_path: Path) -> None:
    """JSON written with ASCII escapes (Python's default) holds an emoji as a pair of surrogate escapes: one character."""
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "d1", "text": "\\ud83d\\ude00 \\u00e9"}\n')
    assert [d.text for d in iter_corpus(path)] == ["\U0001f600 \u00e9"]


# -- no traceback for bad bytes, and JSON errors keep line and column -----------------


def test_text_that_is_not_utf8_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(b"q1 Q0 d1 1 2.0 t\nq1 Q0 d\xe92 2 1.0 t\n")
    with pytest.raises(InputError, match=r"r.txt:2: not UTF-8 text \(byte 0xe9 at column 8\)"):
        read_run(path)


def test_truncated_and_fake_gzip_are_refused_at_their_line(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(b"q1 Q0 d%d %d %d.0 t\n" % (i, i + 1, 1000 - i) for i in range(2000)))
    truncated = tmp_path / "r.txt.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"r.txt.gz:\d+: broken gzip data: the file is truncated"):
        read_run(truncated)
    fake = tmp_path / "c.json.gz"
    fake.write_text("[]")
    with pytest.raises(InputError, match=r"c.json.gz:1: broken gzip data: Not a gzipped file"):
        read_candidates(fake)


def test_a_missing_file_or_a_folder_is_refused_as_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file or directory"):
        read_run(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="Is a directory"):
        read_topics(tmp_path)


def test_json_errors_keep_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('[\n  {"query": "q",\n   "hits": [}\n]')
    with pytest.raises(InputError, match=r"c.json:3: invalid JSON: Expecting value \(column 13\)"):
        read_candidates(path)
    with pytest.raises(InputError, match=r"c.json:3: invalid JSON: .* \(column 13\)"):
        read_json(path)
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"_id": "q1", "text": "a"}\n{"_id": "q2" "text": "b"}\n')
    with pytest.raises(InputError, match=r"q.jsonl:2: invalid JSON: Expecting ',' delimiter \(column 14\)"):
        read_topics(jsonl)
