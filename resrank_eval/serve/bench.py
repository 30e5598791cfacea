"""The latency-throughput curve of a ``/rerank`` server: offered load steps -> achieved throughput, p50/p95/p99, errors.

Open loop, as users arrive: each step sends offered rate x ``duration_s`` requests at Poisson arrival
times, whether or not earlier ones have been answered (a closed loop would slow down with the server
and hide its queueing), with an asyncio httpx client; its achieved rate is never above the offered one
(:func:`run_step`). A request's latency runs from its scheduled arrival to its last response byte, so
time spent waiting for a client connection counts too. Errors are counted by HTTP status (503: the server's backpressure) or exception name.

Requests are NFCorpus test queries, each with ``top_k`` passages: its judged ones first, then others
drawn at random (fixed seed), in the Cohere v2, Jina or TEI dialect; as ``{"id"}`` of the server's
dense index (cached vectors) or as text (online encoding); :func:`dialect_bodies` writes any other
queries and documents (``scripts/bench_serve_gpu.py``'s synthetic corpus) in a dialect. Any server that speaks the dialect can
be measured (``api_base``), e.g. text-embeddings-inference with a cross-encoder; :func:`start_server`
runs ``resrank-eval serve`` in a subprocess, so the client never competes with the model for the GIL.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..errors import ResrankError

DIALECTS = {"cohere": "/v2/rerank", "jina": "/v1/rerank", "tei": "/rerank"}
DOCUMENTS = ("ids", "text")
DATASET = "beir/nfcorpus"
_LISTENING = re.compile(r"serving \S+ on (http://\S+:\d+) ")


@dataclass
class Step:
    """One offered load: what was sent and what came back (latencies of successful requests, in ms).

    ``achieved_rps``: successful answers over the step's wall time, from its start to the end of its arrival
    window or, if later, its last answer (:func:`run_step`).
    """

    series: str
    offered_rps: float
    duration_s: float
    sent: int
    ok: int
    achieved_rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_batch: float | None
    errors: dict[str, int] = field(default_factory=dict)


def request_bodies(dialect: str, documents: str, top_k: int, count: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` requests (cycling through NFCorpus test queries) of ``top_k`` passages each, in ``dialect``."""
    from ..datasets import get_dataset

    if dialect not in DIALECTS or documents not in DOCUMENTS:
        raise ResrankError(f"dialect must be one of {', '.join(DIALECTS)} and documents one of {', '.join(DOCUMENTS)}")
    dataset = get_dataset(DATASET)
    topics, qrels, texts = dataset.topics(), dataset.qrels(), dataset.passages()
    corpus = sorted(texts)
    rng = random.Random(seed)
    qids = [q for q in topics if qrels.get(q)][:count]
    chosen = []
    for i in range(count):
        qid = qids[i % len(qids)]
        judged = [d for d in sorted(qrels[qid]) if d in texts][:top_k]
        rest = rng.sample(corpus, top_k + len(judged))
        chosen.append((qid, (judged + [d for d in rest if d not in judged])[:top_k]))
    return dialect_bodies(dialect, [(topics[qid].text, [{"id": d} for d in docids] if documents == "ids" else [texts[d] for d in docids])
                                    for qid, docids in chosen])


def dialect_bodies(dialect: str, requests: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Each (query, documents) as a request body of ``dialect``; a document is a text or ``{"id": ...}`` (cached vector).

    Without a ``model`` field (optional in Cohere v2 and Jina bodies here): a server answers with the model it serves."""
    if dialect not in DIALECTS:
        raise ResrankError(f"dialect must be one of {', '.join(DIALECTS)}")
    return [{"query": query, "texts": docs, "raw_scores": True} if dialect == "tei"
            else {"query": query, "documents": docs, "top_n": 10} for query, docs in requests]


async def run_step(client: httpx.AsyncClient, url: str, bodies: Sequence[dict[str, Any]], rate: float, duration_s: float,
                   series: str, seed: int = 0) -> Step:
    """``rate`` x ``duration_s`` requests (at least one) at Poisson arrival times, then wait for every answer.

    The count is fixed and the arrival times are those of a Poisson process given its count (uniform over the
    window the count takes at ``rate``), so the step offers exactly ``rate``; a Poisson count would offer
    anywhere around it (0.5 s at 20 req/s: 5 to 16 requests). The achieved rate is the answers over the step's
    wall time, from its start to the end of the arrival window or, if later, the last answer: at most ``rate``.
    """
    rng = random.Random(seed)
    latencies: list[float] = []
    batches: list[int] = []
    errors: Counter[str] = Counter()

    async def one(body: dict[str, Any], due: float) -> None:
        try:
            response = await client.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            return
        if response.status_code != 200:
            errors[str(response.status_code)] += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)
        if "x-batch-size" in response.headers:
            batches.append(int(response.headers["x-batch-size"]))

    count = max(1, round(rate * duration_s))
    window = count / rate
    tasks = []
    start = time.perf_counter()
    for offset in sorted(rng.uniform(0, window) for _ in range(count)):
        due = start + offset
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(bodies[len(tasks) % len(bodies)], due)))
    await asyncio.gather(*tasks)
    elapsed = max(time.perf_counter() - start, window)
    return Step(series, rate, duration_s, len(tasks), len(latencies), len(latencies) / elapsed, *_percentiles(latencies),
                statistics.fmean(batches) if batches else None, dict(errors))


def _percentiles(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[94], cuts[98]


async def bench(api_base: str, dialect: str, bodies: Sequence[dict[str, Any]], rates: Sequence[float], duration_s: float,
                series: str, api_key: str | None = None, timeout_s: float = 300.0, max_connections: int = 512,
                warmup: int = 3) -> list[Step]:
    """Every rate in turn against ``api_base`` (after ``warmup`` unmeasured requests, one at a time)."""
    url = api_base.rstrip("/") + DIALECTS[dialect]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    async with httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits) as client:
        for body in bodies[:warmup]:
            try:
                response = await client.post(url, json=body)
            except httpx.ConnectError as exc:
                raise ResrankError(f"cannot connect to {api_base} ({exc})") from None
            except httpx.HTTPError as exc:  # a timeout, a dropped connection, a URL without http://
                raise ResrankError(f"{url}: warm-up request failed ({type(exc).__name__}: {exc})") from None
            if response.status_code != 200:
                raise ResrankError(f"{url}: warm-up request answered {response.status_code}: {response.text[:200]}")
        return [await run_step(client, url, bodies, rate, duration_s, series, seed=i) for i, rate in enumerate(rates)]


def table(steps: Sequence[Step]) -> str:
    """The steps as a Markdown table."""
    from tabulate import tabulate

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    rows = [[s.series, f"{s.offered_rps:g}", f"{s.achieved_rps:.2f}", ms(s.p50_ms), ms(s.p95_ms), ms(s.p99_ms),
             "-" if s.mean_batch is None else f"{s.mean_batch:.1f}", f"{s.sent - s.ok}" + (f" ({_errors(s.errors)})" if s.errors else "")]
            for s in steps]
    return tabulate(rows, ["documents", "offered req/s", "achieved req/s", "p50 ms", "p95 ms", "p99 ms", "mean batch", "errors"],
                    tablefmt="github")


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{n}x {kind}" for kind, n in sorted(errors.items()))


def plot(steps: Sequence[Step], path: str | Path, title: str) -> None:
    """Achieved vs offered throughput, and latency percentiles vs achieved throughput, one line per series."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (load, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    for series in dict.fromkeys(s.series for s in steps):
        mine = [s for s in steps if s.series == series]
        load.plot([s.offered_rps for s in mine], [s.achieved_rps for s in mine], marker="o", label=series)
        for name, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            points = [(s.achieved_rps, getattr(s, name)) for s in mine if getattr(s, name) is not None]
            if points:
                latency.plot(*zip(*points), style, marker="o", label=f"{series} {name[:3]}")
    top = max(s.offered_rps for s in steps)
    load.plot([0, top], [0, top], color="grey", linewidth=0.8, label="achieved = offered")
    load.set(xlabel="offered load (requests/s)", ylabel="achieved throughput (requests/s)")
    latency.set(xlabel="achieved throughput (requests/s)", ylabel="latency (ms)", yscale="log")
    for axis in (load, latency):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save(steps: Sequence[Step], output: str | Path, title: str, settings: dict[str, Any]) -> list[Path]:
    """``bench.json`` (settings + steps), ``bench.md`` (the table) and ``bench.png`` (the plot) in ``output``."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "bench.json", folder / "bench.md", folder / "bench.png"]
    paths[0].write_text(json.dumps({"settings": settings, "steps": [asdict(s) for s in steps]}, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(f"{title}\n\n{table(steps)}\n", encoding="utf-8")
    plot(steps, paths[2], title)
    return paths


@contextmanager
def start_server(args: Sequence[str], ready_timeout_s: float = 900.0,
                 env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``resrank-eval serve --port 0 ARGS`` in a subprocess; yields its URL once ``/ready``, and the process.

    Stopped with SIGTERM afterwards (it drains), killed if it does not stop within a minute.
    """
    process = subprocess.Popen([sys.executable, "-m", "resrank_eval", "serve", "--port", "0", *args], stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **(env or {})})
    assert process.stderr is not None
    lines: list[str] = []
    try:
        for line in process.stderr:
            lines.append(line)
            if match := _LISTENING.search(line):
                break
        else:
            raise ResrankError(f"resrank-eval serve exited with {process.wait()}: {''.join(lines[-5:]).strip()}")
        threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True).start()  # keep the pipe drained
        url = match.group(1)
        _wait_ready(url, process, ready_timeout_s, lines)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(url: str, process: subprocess.Popen[str], timeout_s: float, lines: list[str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ResrankError(f"resrank-eval serve exited with {process.returncode}: {''.join(lines[-5:]).strip()}")
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ResrankError(f"{url} was not ready within {timeout_s:g} s")
