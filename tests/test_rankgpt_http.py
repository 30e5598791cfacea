"""The OpenAI-compatible backend (the ``openai`` client) against a real HTTP server on 127.0.0.1, started in the test."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from resrank_eval.errors import ResrankError
from resrank_eval.rerank import rerank
from resrank_eval.rerank.generative import RankGPTReranker
from resrank_eval.types import Candidate, Query, Ranking

_PASSAGE = re.compile(r"^\[(\d+)\] relevance (\d+)$")


class OracleHandler(BaseHTTPRequestHandler):
    """A chat server that ranks the passages it is shown by the number they carry, like a perfect LLM."""

    requests: list[dict] = []
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
        if body["model"] == "broken" or (body["model"] == "flaky" and calls == 1):
            self.send_error(503 if body["model"] == "broken" else 429, "model not loaded")
            return
        if body["model"] == "slow":
            time.sleep(0.2)
        shown = [m.group(1, 2) for msg in body["messages"] if (m := _PASSAGE.match(msg["content"]))]
        best_first = sorted(shown, key=lambda pair: -int(pair[1]))
        answer = "Ranking: " + " > ".join(f"[{label}]" for label, _ in best_first)
        words = sum(len(msg["content"].split()) for msg in body["messages"])
        reply = {
            "choices": [{"message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": words, "completion_tokens": 3 * len(best_first)},
        }
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
    OracleHandler.requests, OracleHandler.in_flight, OracleHandler.most_in_flight = [], 0, 0
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


def test_server_errors_are_retried_then_one_line_resrank_errors(server: str) -> None:
    reranker = RankGPTReranker.from_openai(server, "broken", max_retries=2)
    with pytest.raises(ResrankError, match=r"/v1/chat/completions: HTTP 503"):
        rerank(reranker, [shuffled_ranking("a", 3)])
    assert len(OracleHandler.requests) == 3  # the first try and two retries with back-off


def test_rate_limit_is_retried_and_usage_counted(server: str) -> None:
    (result,) = rerank(RankGPTReranker.from_openai(server, "flaky"), [shuffled_ranking("a", 3)])
    assert len(OracleHandler.requests) == 2 and [c.docid for c in result.candidates] == ["a-2", "a-1", "a-0"]
    assert result.stats.generated_tokens == 9 and result.stats.reranker_input_tokens > 0


def test_a_batch_is_sent_concurrently_but_bounded(server: str) -> None:
    reranker = RankGPTReranker.from_openai(server, "slow", concurrency=2)
    rerank(reranker, [shuffled_ranking(q, 3) for q in "abcd"], batch_size=4)
    assert len(OracleHandler.requests) == 4 and OracleHandler.most_in_flight == 2


def test_unreachable_server_is_a_resrank_error() -> None:
    reranker = RankGPTReranker.from_openai("http://127.0.0.1:9", "any", max_retries=0)
    with pytest.raises(ResrankError, match="127.0.0.1:9"):
        rerank(reranker, [shuffled_ranking("a", 3)])
