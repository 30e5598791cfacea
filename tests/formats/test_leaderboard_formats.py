"""MS MARCO TSV runs and rank_llm Request/Result JSONL: import, export, round trips, and ``validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resrank_eval import evaluate, get_dataset
from resrank_eval.errors import InputError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.corpus import load_passages
from resrank_eval.formats.msmarco import read_msmarco_run
from resrank_eval.formats.trec import read_run
from resrank_eval.types import Passage
from tests.helpers import DL19_CANDIDATES, assert_one_line_error, invoke


@pytest.fixture(scope="module")
def dl19(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled DL19 BM25 candidates as a TREC run with its passage store beside it."""
    run = tmp_path_factory.mktemp("dl19") / "run.dl19.bm25.txt"
    assert invoke("import-candidates", str(DL19_CANDIDATES), "--output", str(run), "--run-tag", "bm25").exit_code == 0
    return run


def test_msmarco_tsv_round_trip(dl19: Path, tmp_path: Path) -> None:
    tsv, back = tmp_path / "run.tsv", tmp_path / "back.txt"
    assert invoke("convert-run", str(dl19), "--to", "msmarco", "--output", str(tsv)).exit_code == 0
    first = tsv.read_text().splitlines()[0].split("\t")
    assert len(first) == 3 and first[2] == "1"
    assert invoke("convert-run", str(tsv), "--to", "trec", "--run-tag", "bm25", "--output", str(back)).exit_code == 0
    original, returned = read_run(dl19), read_run(back)
    assert {q: [c.docid for c in hits] for q, hits in returned.items()} == {q: [c.docid for c in hits] for q, hits in original.items()}
    qrels = get_dataset("dl19").qrels()
    assert evaluate(returned, qrels, ["nDCG@10"]).mean == evaluate(original, qrels, ["nDCG@10"]).mean
    again = tmp_path / "again.tsv"
    assert invoke("convert-run", str(back), "--to", "msmarco", "--output", str(again)).exit_code == 0
    assert again.read_bytes() == tsv.read_bytes()
    assert "OK:" in invoke("validate", str(tsv), "--dataset", "dl19").output


def test_request_jsonl_round_trip(dl19: Path, tmp_path: Path) -> None:
    requests = tmp_path / "dl19.requests.jsonl"
    passages = f"{dl19}.passages.jsonl"
    assert invoke("export-candidates", "--dataset", "dl19", "--run", str(dl19), "--corpus", passages, "--output", str(requests)).exit_code == 0
    record = json.loads(requests.read_text().splitlines()[0])
    assert set(record) == {"query", "candidates"} and set(record["query"]) == {"text", "qid"}
    assert set(record["candidates"][0]) == {"docid", "score", "doc"} and "contents" in record["candidates"][0]["doc"]
    original, returned = read_candidates(DL19_CANDIDATES), read_candidates(requests)
    assert returned.run == read_run(dl19) and returned.passages == original.passages
    assert {q: t.text for q, t in returned.topics.items()} == {q: t.text for q, t in original.topics.items()}
    imported, again = tmp_path / "imported.txt", tmp_path / "again.jsonl"
    assert invoke("import-candidates", str(requests), "--output", str(imported), "--run-tag", "bm25").exit_code == 0
    assert imported.read_bytes() == dl19.read_bytes()
    assert invoke("export-candidates", "--dataset", "dl19", "--run", str(imported), "--corpus", f"{imported}.passages.jsonl",
                  "--output", str(again)).exit_code == 0
    assert again.read_bytes() == requests.read_bytes()
    assert "OK:" in invoke("validate", str(requests), "--dataset", "dl19").output


def test_request_doc_shapes_and_the_json_list_form(tmp_path: Path) -> None:
    docs = [{"contents": "c"}, {"title": "T", "text": "body"}, {"title": "T2", "segment": "seg"}, "plain"]
    entry = {"query": {"text": "q", "qid": 7}, "candidates": [{"docid": f"d{i}", "score": 4 - i, "doc": d} for i, d in enumerate(docs)],
             "invocations_history": []}
    listed = tmp_path / "results.json"
    listed.write_text(json.dumps([entry]))
    data = read_candidates(listed)
    assert data.passages == {"d0": "c", "d1": "T body", "d2": "T2 seg", "d3": "plain"}
    assert data.topics["7"].text == "q" and [c.docid for c in data.run["7"]] == ["d0", "d1", "d2", "d3"]


def test_a_docid_has_one_text_across_requests(tmp_path: Path) -> None:
    """A later Request overwrote the text an earlier one gave a docid, so that query's candidate was reranked on another
    passage; it is refused as RankGPT JSON's reader refuses it, and a docid repeated with the same text (whatever
    doc shape writes it, as the prompts show it) still reads."""
    def request(qid: str, doc: object) -> dict:
        return {"query": {"text": "q", "qid": qid}, "candidates": [{"docid": "d0", "score": 2, "doc": "x"}, {"docid": "d1", "score": 1, "doc": doc}]}

    lines = tmp_path / "clash.jsonl"
    lines.write_text(json.dumps(request("q1", {"contents": "one"})) + "\n\n" + json.dumps(request("q2", {"contents": "two"})) + "\n")
    with pytest.raises(InputError, match=r"clash.jsonl:3: request 1, candidate 1: docid 'd1' has a different text than at request 0, "
                                         r"candidate 1 \(line 1\)$"):
        read_candidates(lines)
    listed = tmp_path / "clash.json"
    listed.write_text(json.dumps([request("q1", {"title": "T", "text": "body"}), request("q2", {"contents": "T body"})]))
    with pytest.raises(InputError, match=r"clash.json: request 1, candidate 1: docid 'd1' has a different text than at request 0, candidate 1$"):
        read_candidates(listed)
    same = tmp_path / "same.jsonl"
    same.write_text("".join(json.dumps(request(q, doc)) + "\n" for q, doc in [("q1", {"title": "T", "text": "body"}),
                                                                               ("q2", {"title": "T", "segment": "body"})]))
    data = read_candidates(same)
    assert data.passages == {"d0": "x", "d1": Passage("T", "body")} and data.passages["d1"].title == "T" and list(data.run) == ["q1", "q2"]


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("bad.tsv", "q1\td1\t1\nq1\td2\t3\n", ["bad.tsv:2:", "should be 2"]),
        ("bad.tsv", "q1\td1\t1\nq2\td1\t1\nq1\td3\t2\n", ["bad.tsv:3:", "appears again"]),
        ("bad.tsv", "q1\td1\t1\nq1\td1\t2\n", ["bad.tsv:2:", "duplicate docid"]),
        ("bad.jsonl", '{"query": {"text": "q", "qid": "1"}, "candidates": []}\n{"query": "old style"}\n', ["bad.jsonl:2:", "request 1"]),
        ("bad.jsonl", '{"query": {"text": "q", "qid": "1"}, "candidates": [{"docid": "a", "score": 1, "doc": {"x": 1}}]}\n',
         ["bad.jsonl:1:", "no 'contents'"]),
        ("bad.jsonl", '{"query": {"text": "q", "qid": "1"}, "candidates": [{"docid": "a", "score": 1, "doc": "x"}, {"docid": "b", "score": 5, '
         '"doc": "y"}]}\n', ["bad.jsonl: query '1', hit 1 ('b'): score 5.0 does not strictly decrease (previous 1.0;"]),
        ("bad.json", json.dumps([{"query": "q", "hits": [{"content": "x", "qid": "1", "docid": d, "score": 2.0} for d in "ab"]}]),
         ["bad.json: query '1', hit 1 ('b'): score 2.0 does not strictly decrease (previous 2.0;"]),
        ("bad.json", json.dumps([{"query": "q", "hits": [{"content": "x", "qid": "1", "docid": d, "rank": r, "score": s} for d, r, s in
                                                         [("a", 1, 2.0), ("b", 3, 1.0)]]}]),
         ["bad.json: entry 0, hit 1: rank 3 should be 2 (ranks count up from 1 in list order)"]),
    ],
)
def test_validate_names_the_line(tmp_path: Path, name: str, text: str, fragments: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert_one_line_error(invoke("validate", str(path)), *fragments)


def test_validate_parses_a_candidate_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rank check parsed a RankGPT JSON file a second time after the reader had: twice the time and memory on a large file."""
    entries = [{"query": f"q{q}", "hits": [{"content": f"text {q} {r}", "qid": str(q), "docid": f"d{q}-{r}", "rank": r, "score": 10.0 - r}
                                          for r in range(1, 21)]} for q in range(1000)]
    path = tmp_path / "candidates.json"
    path.write_text(json.dumps(entries) + "\n")
    parses: list[int] = []
    loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, **kw: parses.append(len(text)) or loads(text, **kw))
    assert "OK: " in invoke("validate", str(path)).output
    assert parses == [path.stat().st_size]


def test_msmarco_reader_scores_by_rank(tmp_path: Path) -> None:
    path = tmp_path / "run.tsv"
    path.write_text("q1\tb\t1\nq1\ta\t2\n")
    assert [(c.docid, c.score) for c in read_msmarco_run(path)["q1"]] == [("b", -1.0), ("a", -2.0)]


@pytest.mark.parametrize("scores", [[1.0, 5.0], [2.0, 2.0], [1.0000000001, 1.0]])
def test_import_says_when_hits_are_out_of_score_order(tmp_path: Path, scores: list[float]) -> None:
    """The run keeps the list order (as rank_llm reads it), so its scores are lowered to agree: that was silent. ``validate``
    refuses such a file (it accepted it): trec_eval on its scores and a reranker on its list would rank it two ways. Tied
    scores, equal or equal as trec_eval's 32-bit floats, are no order either: import lowered them silently."""
    hits = [{"content": f"text {d}", "qid": "q1", "docid": d, "rank": r, "score": s} for r, (d, s) in enumerate(zip("ab", scores), 1)]
    candidates, run = tmp_path / "c.json", tmp_path / "run.txt"
    candidates.write_text(json.dumps([{"query": "q", "hits": hits}]))
    result = invoke("import-candidates", str(candidates), "--output", str(run))
    assert result.exit_code == 0 and "c.json: 1 of 1 queries list hits out of score order or tied (as trec_eval's 32-bit floats; e.g. 'q1')" \
        in result.stderr, result.stderr
    assert [c.docid for c in read_run(run)["q1"]] == ["a", "b"]
    assert_one_line_error(invoke("validate", str(candidates)), f"c.json: query 'q1', hit 1 ('b'): score {scores[1]!r} does not strictly decrease")
    in_order = invoke("import-candidates", str(DL19_CANDIDATES), "--output", str(tmp_path / "dl19.txt"))
    assert in_order.exit_code == 0 and "out of score order" not in in_order.stderr
    assert "OK:" in invoke("validate", str(DL19_CANDIDATES), "--dataset", "dl19").output


def test_titles_survive_import_and_export(tmp_path: Path) -> None:
    """rank_llm's BEIR documents keep their title apart ({"title", "text"}), and RankGPT-style prompts show it
    (``Title: T Content: body``). The passage store and the exported Request JSONL flattened it into the text, so a
    rerank of the import prompted ``T body`` where ``rerank --candidates`` on the same file prompted the title form. RankGPT JSON
    wrote the plain ``T body`` as a hit's content (RankGPT's code then prompted no title); it writes and reads the title form."""
    docs = {"d1": {"title": "Ünïcödé T", "text": "body\twith\ttabs\nand 東京"}, "d2": {"contents": "no title"}}
    record = {"query": {"text": "q", "qid": "q1"}, "candidates": [{"docid": d, "score": 2.5 - i, "doc": doc} for i, (d, doc) in enumerate(docs.items())]}
    source, run, exported = tmp_path / "source.jsonl", tmp_path / "run.txt", tmp_path / "exported.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert invoke("import-candidates", str(source), "--output", str(run), "--topics-output", str(tmp_path / "q.tsv")).exit_code == 0
    assert invoke("export-candidates", "--topics", str(tmp_path / "q.tsv"), "--run", str(run), "--corpus", f"{run}.passages.jsonl",
                  "--output", str(exported)).exit_code == 0
    assert [c["doc"] for c in json.loads(exported.read_text(encoding="utf-8"))["candidates"]] == [
        {"title": "Ünïcödé T", "text": "body\twith\ttabs\nand 東京"}, {"contents": "no title"}]
    def titled(passages: dict[str, str]) -> dict[str, tuple[str, str]]:
        return {docid: (text.title if isinstance(text, Passage) else "", str(text)) for docid, text in passages.items()}

    original = titled(read_candidates(source).passages)
    assert original["d1"] == ("Ünïcödé T", "Ünïcödé T body\twith\ttabs\nand 東京")
    assert titled(load_passages(f"{run}.passages.jsonl")) == original and titled(read_candidates(exported).passages) == original
    rankgpt, again = tmp_path / "exported.json", tmp_path / "again.txt"  # RankGPT JSON: the title form its retrieval writes
    assert invoke("export-candidates", "--topics", str(tmp_path / "q.tsv"), "--run", str(run), "--corpus", f"{run}.passages.jsonl",
                  "--output", str(rankgpt)).exit_code == 0
    assert [h["content"] for h in json.loads(rankgpt.read_text(encoding="utf-8"))[0]["hits"]] == [
        "Title: Ünïcödé T Content: body\twith\ttabs\nand 東京", "no title"]
    assert invoke("import-candidates", str(rankgpt), "--output", str(again)).exit_code == 0
    assert titled(read_candidates(rankgpt).passages) == original and titled(load_passages(f"{again}.passages.jsonl")) == original
