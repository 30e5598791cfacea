"""The OpenAI-compatible backend (the ``openai`` client) against a real HTTP server on 127.0.0.1, started in the test;
and ``rerank --reranker rankgpt --api-base`` end to end against it: requests, answers, traces, summary."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from resrank_eval.cli import main
from resrank_eval.errors import ResrankError
from resrank_eval.rerank import rerank
from resrank_eval.rerank.generative import RankGPTReranker
from resrank_eval.types import Candidate, Query, Ranking

_PASSAGE = re.compile(r"^\[(\d+)\] relevance (\d+)$")


class OracleHandler(BaseHTTPRequestHandler):
    """A chat server that ranks the passages it is shown by the number they carry, like a perfect LLM."""

    requests: list[dict] = []
    fail_query: str | None = None
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with OracleHandler.lock:
            OracleHandler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            OracleHandler.in_flight += 1
            OracleHandler.most_in_flight = max(OracleHandler.most_in_flight, OracleHandler.in_flight)
            calls = sum(r["body"]["model"] == body["model"] for r in OracleHandler.requests)
        try:
            self._answer(body, calls)
        finally:
            with OracleHandler.lock:
                OracleHandler.in_flight -= 1

    def _answer(self, body: dict, calls: int) -> None:
        if OracleHandler.fail_query and any(OracleHandler.fail_query in m["content"] for m in body["messages"]):
            self.send_error(503, "down")
            return
        if body["model"] == "broken" or (body["model"] == "flaky" and calls == 1):
            self.send_error(503 if body["model"] == "broken" else 429, "model not loaded")
            return
        if body["model"] == "slow":
            time.sleep(0.2)
        shown = [m.group(1, 2) for msg in body["messages"] if (m := _PASSAGE.match(msg["content"]))]
        best_first = sorted(shown, key=lambda pair: -int(pair[1]))
        answer = "Ranking: " + " > ".join(f"[{label}]" for label, _ in best_first)
        if body["model"] == "mute":  # answers, but names nothing (an empty reply, a refusal, thinking cut off)
            answer = ""
        if body["model"] == "thinker":  # thinks aloud, naming the passages worst first, before the real answer
            answer = "<think>\nMaybe " + " > ".join(f"[{label}]" for label, _ in best_first[::-1]) + "?\n</think>\n\n" + answer
        words = sum(len(msg["content"].split()) for msg in body["messages"])
        reply = {
            "choices": [{"message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": words, "completion_tokens": 3 * len(best_first)},
        }
        if body["model"] == "uncounted":  # a server that reports no token counts
            del reply["usage"]
        if body["model"] == "half-counted":
            reply["usage"] = {"prompt_tokens": words, "completion_tokens": None}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    OracleHandler.requests, OracleHandler.in_flight, OracleHandler.most_in_flight, OracleHandler.fail_query = [], 0, 0, None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), OracleHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def shuffled_ranking(qid: str, n: int) -> Ranking:
    """``n`` passages whose true relevance is a fixed shuffle of 0..n-1."""
    relevance = [(7 * i + 3) % n for i in range(n)]
    return Ranking(Query(qid, "q"), [Candidate(f"{qid}-{r}", float(n - i), f"relevance {r}") for i, r in enumerate(relevance)])


def test_sliding_windows_bring_the_best_ten_to_the_top(server: str) -> None:
    """With a perfect ranker, one back-to-front pass puts the true top-10 first, in order (RankGPT's design)."""
    reranker = RankGPTReranker.from_openai(server + "/v1", "oracle", api_key="secret")
    given = [shuffled_ranking("a", 100), shuffled_ranking("b", 100)]
    results = rerank(reranker, given, batch_size=2)
    for result in results:
        qid = result.stats.qid
        assert [c.docid for c in result.candidates[:10]] == [f"{qid}-{r}" for r in range(99, 89, -1)]
        assert result.stats.generated_tokens == 9 * 3 * 20
        assert result.stats.device == "remote"
        assert len(result.stats.extra["windows"]) == 9
        assert all(w["named"] == 20 for w in result.stats.extra["windows"])
    sent = OracleHandler.requests
    assert len(sent) == 18
    assert {r["path"] for r in sent} == {"/v1/chat/completions"}
    assert {r["auth"] for r in sent} == {"Bearer secret"}
    assert sent[0]["body"]["temperature"] == 0
    assert sent[0]["body"]["max_tokens"] == 160
    assert sent[0]["body"]["chat_template_kwargs"] == {"enable_thinking": False}  # thinking off unless asked


def write_candidates(path: Path, queries: dict[str, int]) -> Path:
    """A RankGPT candidate file whose passages say how relevant they are (``relevance r``), in a fixed shuffle."""
    entries = []
    for qid, n in queries.items():
        ranking = shuffled_ranking(qid, n)
        hits = [{"content": c.text, "qid": qid, "docid": c.docid, "rank": i + 1, "score": c.score} for i, c in enumerate(ranking.candidates)]
        entries.append({"query": f"query {qid}", "hits": hits})
    path.write_text(json.dumps(entries))
    return path


def rerank_cli(server: str, candidates: Path, output: Path, *extra: str) -> None:
    result = CliRunner().invoke(main, ["rerank", "--dataset", "dl19", "--candidates", str(candidates), "--reranker", "rankgpt",
                                       "--api-base", server, "--top-k", "30", "--output", str(output), *extra])
    assert result.exit_code == 0, (result.output, result.exception)


def test_rerank_api_base_traces_every_window(server: str, tmp_path: Path) -> None:
    """``rerank --api-base``: RUN.trace.jsonl holds what each call sent and got, and the order made of it; a thinking answer parses."""
    output = tmp_path / "run.dl19.rankgpt.txt"
    rerank_cli(server, write_candidates(tmp_path / "cand.json", {"a": 30, "b": 25}), output, "--model", "thinker",
               "--protocol", "rank_llm")
    trace = [json.loads(line) for line in output.with_name(output.name + ".trace.jsonl").read_text().splitlines()]
    assert [(t["qid"], t["window"]) for t in trace] == [("a", [10, 30]), ("a", [0, 20]), ("b", [5, 25]), ("b", [0, 15])]
    sent = {json.dumps(r["body"]["messages"]): r["body"] for r in OracleHandler.requests}
    assert len(sent) == len(trace) == 4
    for line in trace:
        assert set(line) == {"qid", "window", "docids", "messages", "answer", "permutation", "prompt_tokens", "completion_tokens"}
        body = sent[json.dumps(line["messages"])]  # the trace holds exactly the conversation the server received
        assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["temperature"] == 0
        shown = [int(m["content"].split()[-1]) for m in line["messages"] if m["role"] == "user" and m["content"].startswith("[")]
        assert line["messages"][1]["content"].startswith(f"I will provide you with {len(shown)} passages, each indicated by number "
                                                         "identifier [].\n")  # rank_llm's bytes
        assert line["answer"].startswith("<think>\nMaybe [")
        assert [shown[k - 1] for k in line["permutation"]] == sorted(shown, reverse=True)  # the ranking after </think>, not the thoughts
        assert len(line["docids"]) == len(shown) and line["completion_tokens"] == 3 * len(shown) and line["prompt_tokens"] > 0
    ranked = [line.split()[2] for line in output.read_text().splitlines() if line.startswith("a ")]
    assert ranked[:10] == [f"a-{r}" for r in range(29, 19, -1)]
    summary = json.loads(output.with_name(output.name + ".summary.json").read_text())
    assert summary["protocol"] == {"name": "rank_llm", "version": "0.26.0", "answer_tokens": 160, "thinking": "off", "temperature": 0.0,
                                   "context_size": 4096}


def test_rerank_api_base_sampling_and_thinking_options(server: str, tmp_path: Path) -> None:
    """--temperature none sends none (rank_llm's choice), --thinking default sends no template switch, on adds its budget."""
    candidates = write_candidates(tmp_path / "cand.json", {"a": 5})
    rerank_cli(server, candidates, tmp_path / "run.a.txt", "--model", "oracle", "--temperature", "none", "--thinking", "default")
    rerank_cli(server, candidates, tmp_path / "run.b.txt", "--model", "oracle", "--thinking", "on", "--temperature", "0.5")
    first, second = (r["body"] for r in OracleHandler.requests)
    assert "temperature" not in first and "chat_template_kwargs" not in first and first["max_tokens"] == 160
    assert second["temperature"] == 0.5 and second["chat_template_kwargs"] == {"enable_thinking": True}
    assert second["max_tokens"] == 160 + 10_000
    summary = json.loads((tmp_path / "run.a.txt.summary.json").read_text())
    assert summary["protocol"] == {"name": "rankgpt", "version": "RankGPT@0d62bc3", "answer_tokens": 160, "thinking": "default",
                                   "temperature": None}


def test_temperature_model_and_context_are_checked_before_anything_runs(tmp_path: Path) -> None:
    """Refused before the model loads (~18 s for SmolLM2), each in one line saying what is wrong."""
    candidates = write_candidates(tmp_path / "cand.json", {"a": 5})
    for extra, message in ((["--api-base", "http://127.0.0.1:9", "--temperature", "warm"], "--temperature must be a number or 'none'"),
                           (["--temperature", "0.7"], "--temperature applies to --api-base servers"),
                           (["--model", str(tmp_path / "no-model")], f"Error: {tmp_path / 'no-model'}: no such folder (and not a hub id)\n"),
                           (["--protocol", "rank_llm", "--context-size", "10"],
                            "Error: --context-size 10 leaves no room for a prompt: the answer to a window of 20 passages alone takes 78 "
                            "tokens; raise --context-size\n")):
        result = CliRunner().invoke(main, ["rerank", "--dataset", "dl19", "--candidates", str(candidates), "--reranker", "rankgpt",
                                           "--model", "smollm2", "--output", str(tmp_path / "out.txt"), *extra])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert not (tmp_path / "out.txt").exists()


def test_server_errors_are_retried_then_one_line_resrank_errors(server: str) -> None:
    reranker = RankGPTReranker.from_openai(server, "broken", max_retries=2)
    with pytest.raises(ResrankError, match=r"/v1/chat/completions: HTTP 503"):
        rerank(reranker, [shuffled_ranking("a", 3)])
    assert len(OracleHandler.requests) == 3  # the first try and two retries with back-off


def test_rate_limit_is_retried_and_usage_counted(server: str) -> None:
    (result,) = rerank(RankGPTReranker.from_openai(server, "flaky"), [shuffled_ranking("a", 3)])
    assert len(OracleHandler.requests) == 2 and [c.docid for c in result.candidates] == ["a-2", "a-1", "a-0"]
    assert result.stats.generated_tokens == 9 and result.stats.reranker_input_tokens > 0


def test_a_reply_without_token_counts_is_refused_not_counted_as_zero(server: str, tmp_path: Path) -> None:
    """A reply without ``usage`` was counted as 0 input and 0 generated tokens, so the summary said the baseline cost nothing
    (exit 0); ``usage`` without a count failed on None. The server's tokenizer and chat template are unknown here, so no exact
    count can be made client-side: the rerank stops at the first such reply, in one line, before any run is written."""
    for model in ("uncounted", "half-counted"):
        with pytest.raises(ResrankError, match=r"/v1/chat/completions: the reply has no token counts \(usage"):
            rerank(RankGPTReranker.from_openai(server, model), [shuffled_ranking("a", 3)])
    output = tmp_path / "run.txt"
    result = CliRunner().invoke(main, ["rerank", "--dataset", "dl19", "--candidates", str(write_candidates(tmp_path / "cand.json", {"a": 5})),
                                       "--reranker", "rankgpt", "--api-base", server, "--model", "uncounted", "--output", str(output)])
    assert result.exit_code == 2 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.output
    assert "no token counts" in result.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["cand.json"]


def test_windows_whose_answer_names_no_passage_are_warned_about(server: str, caplog: pytest.LogCaptureFixture) -> None:
    """An answer that names nothing leaves its window in first-stage order: the run must say so, not pass for a reranking."""
    given = shuffled_ranking("a", 25)
    with caplog.at_level("WARNING", logger="resrank_eval"):
        (result,) = rerank(RankGPTReranker.from_openai(server, "mute"), [given])
    assert [c.docid for c in result.candidates] == given.docids
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "rankgpt query a: 2 of 2 windows named no passage, so they kept their order (first such answer: '')"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="resrank_eval"):
        rerank(RankGPTReranker.from_openai(server, "oracle"), [given])
    assert not caplog.records


def test_a_batch_is_sent_concurrently_but_bounded(server: str) -> None:
    reranker = RankGPTReranker.from_openai(server, "slow", concurrency=2)
    rerank(reranker, [shuffled_ranking(q, 3) for q in "abcd"], batch_size=4)
    assert len(OracleHandler.requests) == 4 and OracleHandler.most_in_flight == 2


def test_unreachable_server_is_a_resrank_error() -> None:
    reranker = RankGPTReranker.from_openai("http://127.0.0.1:9", "any", max_retries=0)
    with pytest.raises(ResrankError, match="127.0.0.1:9"):
        rerank(reranker, [shuffled_ranking("a", 3)])


def test_traces_survive_sharding_and_resuming(server: str, tmp_path: Path) -> None:
    """Two shards then ``merge``, or a job resumed from its partial file: the same trace as one uninterrupted process."""
    candidates = write_candidates(tmp_path / "cand.json", {q: 12 for q in "abcde"})
    whole = tmp_path / "whole.txt"
    rerank_cli(server, candidates, whole, "--model", "oracle")
    expected = Path(f"{whole}.trace.jsonl").read_text()
    sharded = tmp_path / "sharded.txt"
    for shard in ("0", "1"):
        rerank_cli(server, candidates, sharded, "--model", "oracle", "--shard-id", shard, "--shard-num", "2")
    assert CliRunner().invoke(main, ["merge", "--output", str(sharded)]).exit_code == 0
    assert Path(f"{sharded}.trace.jsonl").read_text() == expected
    assert not list(tmp_path.glob("sharded.txt*-of-*"))  # shard traces merged away

    resumed = tmp_path / "resumed.txt"
    OracleHandler.fail_query = "query c"  # the job dies at its third query, as a killed one would
    result = CliRunner().invoke(main, ["rerank", "--dataset", "dl19", "--candidates", str(candidates), "--reranker", "rankgpt",
                                       "--api-base", server, "--model", "oracle", "--top-k", "30", "--output", str(resumed)])
    assert result.exit_code != 0 and Path(f"{resumed}.partial.jsonl").exists() and not Path(f"{resumed}.trace.jsonl").exists()
    OracleHandler.fail_query = None
    rerank_cli(server, candidates, resumed, "--model", "oracle")
    assert Path(f"{resumed}.trace.jsonl").read_text() == expected


def test_the_report_footnote_names_each_runs_prompts(server: str, tmp_path: Path) -> None:
    """The protocol record travels from each query's stats through the run's efficiency summary into the footnote."""
    from resrank_eval.report.build import Report, SystemResult
    from resrank_eval.report.runs import read_efficiency

    candidates = write_candidates(tmp_path / "cand.json", {"a": 5})
    results = []
    for protocol in ("rankgpt", "rank_llm"):
        output = tmp_path / f"run.{protocol}.txt"
        rerank_cli(server, candidates, output, "--model", "oracle", "--protocol", protocol, "--run-tag", protocol)
        results.append(SystemResult(protocol, "dl19", None, [], {}, {}, read_efficiency(output)))  # type: ignore[arg-type]
    report = Report(results, None, 0.05, labels={"rank_llm": "RankGPT-style (rank_llm prompts)"})
    lines = report.prompts()
    assert lines == ["rankgpt: --protocol rankgpt (RankGPT@0d62bc3), answer budget 160 tokens, thinking off, temperature 0.0",
                     "RankGPT-style (rank_llm prompts): --protocol rank_llm (0.26.0), answer budget 160 tokens, thinking off, "
                     "temperature 0.0, context size 4096"]
    assert "Prompts: - rankgpt: --protocol rankgpt" in report.to_markdown()
