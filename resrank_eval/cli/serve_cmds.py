"""``serve`` and ``bench-serve``: a ResRank model behind the rerank APIs, and its latency-throughput curve."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

import click

from .common import POSITIVE, Writable, device_option, dtype_option


class Finite(click.FloatRange):
    """A float range that refuses inf and nan, which click's lets through (nan compares false with both bounds): an
    infinite batch window, timeout, drain or step never ends, and an infinite body limit is no number of bytes."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number", param, ctx)
        return number


def _extra_missing(exc: ImportError) -> click.ClickException:
    return click.ClickException(f'{exc.name or "a package"} is not installed; serving needs pip install "resrank-eval[serve]"')


@click.command("serve")
@click.option("--model", type=click.Path(file_okay=False), default=None,
              help="ResRank checkpoint (default: the bundled ResRank-mini, with its NFCorpus dense index).")
@click.option("--dense-index", type=click.Path(file_okay=False), default=None,
              help="Dense index (`resrank-eval encode`) whose passages requests may give as {\"id\": ...}: their stored vectors are read.")
@device_option
@dtype_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one, logged).")
@click.option("--max-batch", type=POSITIVE, default=16, show_default=True, help="Most requests in one model call.")
@click.option("--max-wait-ms", type=Finite(min=0), default=5.0, show_default=True,
              help="How long a request waits for others to share its batch when the model is idle.")
@click.option("--max-queue", type=POSITIVE, default=256, show_default=True, help="Requests waiting beyond this are answered 503.")
@click.option("--max-documents", type=POSITIVE, default=1000, show_default=True, help="Documents per request (more: 413).")
@click.option("--max-chars", type=POSITIVE, default=20_000, show_default=True, help="Characters per document and query (more: 413).")
@click.option("--max-body-mb", type=Finite(min=0, min_open=True), default=16.0, show_default=True,
              help="Request body size in MiB (more: 413).")
@click.option("--timeout", "timeout_s", type=Finite(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds a request may wait and run before it is answered 503.")
@click.option("--drain", "drain_s", type=Finite(min=0), default=30.0, show_default=True,
              help="On SIGTERM/SIGINT, seconds in-flight requests have to finish; the whole shutdown takes this long at most.")
@click.option("--api-key-env", default=None, metavar="NAME",
              help="Require `Authorization: Bearer <key>`, the key read from this environment variable.")
def serve(model: str | None, dense_index: str | None, device: str | None, dtype: str | None, host: str, port: int, max_batch: int,
          max_wait_ms: float, max_queue: int, max_documents: int, max_chars: int, max_body_mb: float, timeout_s: float,
          drain_s: float, api_key_env: str | None) -> None:
    """Serve a ResRank model over HTTP: Cohere v2 /v2/rerank, Jina /v1/rerank, text-embeddings-inference /rerank.

    Concurrent requests are batched into one model call; /health, /ready, /metrics (Prometheus) and
    /docs (OpenAPI) are for operations. Documents are text or {"id": ...} of the dense index; their
    given order is the first stage the model reads. Stops on Ctrl-C / SIGTERM after in-flight requests finish.
    """
    try:
        from ..serve import RerankService, ServeSettings
        from ..serve import serve as run
    except ImportError as exc:
        raise _extra_missing(exc) from None
    from ..rerank.registry import reranker_factory

    settings = ServeSettings(model, dense_index, device, dtype, max_batch, max_wait_ms, max_queue, max_documents, max_chars,
                             round(max_body_mb * 2**20), timeout_s, drain_s, api_key_env)
    settings.api_key()  # an unset key variable is an error before anything loads
    reranker_factory("resrank", model=settings.model_path, dense_index=settings.index_path, device=device, dtype=dtype)
    run(RerankService(settings), host, port)



def _rates(ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    """Finite and above 0: an infinite or NaN rate would never advance the arrival clock, and the step never end."""
    try:
        rates = [float(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
    for rate in rates:
        if not (math.isfinite(rate) and rate > 0):
            raise click.BadParameter(f"every rate must be a finite number above 0, got {rate:g}")
    return rates


def _api_base(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) URL with a host and a valid port, checked before anything starts (httpx fails on others mid-run)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # ValueError: not a number, or out of 0-65535
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL with a host")
    return value


@click.command("bench-serve")
@click.option("--api-base", callback=_api_base, default=None, help="Measure this running server (any that speaks --dialect) instead of starting one.")
@click.option("--dialect", type=click.Choice(["cohere", "jina", "tei"]), default="tei", show_default=True,
              help="Request shape (TEI's /rerank for a text-embeddings-inference cross-encoder).")
@click.option("--documents", type=click.Choice(["ids", "text"]), multiple=True, default=("ids", "text"), show_default=True,
              help="Passages as {\"id\"} of the dense index (cached vectors) or as text (online encoding); repeat for both. "
                   "Another server (--api-base) takes text only.")
@click.option("--top-k", type=POSITIVE, default=100, show_default=True, help="Passages per request.")
@click.option("--rates", callback=_rates, default="1,2,4,8", show_default=True, help="Offered loads, requests/s, one step each.")
@click.option("--duration", type=Finite(min=0, min_open=True), default=30.0, show_default=True, help="Seconds per step.")
@click.option("--output", type=Writable(folder=True), default="benchmarks/serve", show_default=True,
              help="Folder for bench.json, bench.md and bench.png.")
@click.option("--api-key-env", default=None, metavar="NAME", help="Send `Authorization: Bearer <key>` from this variable.")
@click.option("--model", type=click.Path(file_okay=False), default=None, help="Started server: checkpoint (default: bundled ResRank-mini).")
@click.option("--dense-index", type=click.Path(file_okay=False), default=None, help="Started server: dense index.")
@device_option
@dtype_option
@click.option("--max-batch", type=POSITIVE, default=16, show_default=True, help="Started server: most requests per model call.")
@click.option("--max-wait-ms", type=Finite(min=0), default=5.0, show_default=True, help="Started server: batch window.")
@click.option("--max-queue", type=POSITIVE, default=256, show_default=True, help="Started server: queue bound (beyond: 503).")
def bench_serve(api_base: str | None, dialect: str, documents: tuple[str, ...], top_k: int, rates: list[float], duration: float,
                output: str, api_key_env: str | None, model: str | None, dense_index: str | None, device: str | None, dtype: str | None,
                max_batch: int, max_wait_ms: float, max_queue: int) -> None:
    """Latency-throughput curve of a /rerank server: offered load steps -> achieved req/s, p50/p95/p99, errors.

    Without --api-base, starts `resrank-eval serve` (bundled ResRank-mini unless --model) in a subprocess,
    measures it, and stops it. Requests: NFCorpus test queries with --top-k passages each, open-loop
    Poisson arrivals. Writes a table (also printed), the raw steps (JSON) and a plot.
    """
    import asyncio
    import platform
    from contextlib import nullcontext

    try:
        from ..serve import bench
        from ..serve.service import api_key_from
    except ImportError as exc:
        raise _extra_missing(exc) from None

    api_key = api_key_from(api_key_env)
    server_args = [*(["--model", model] if model else []), *(["--dense-index", dense_index] if dense_index else []),
                   *(["--device", device] if device else []), *(["--dtype", dtype] if dtype else []),
                   "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--max-queue", str(max_queue),
                   *(["--api-key-env", api_key_env] if api_key_env else [])]
    steps = []
    with bench.start_server(server_args) if api_base is None else nullcontext((api_base, None)) as (url, _):
        for kind in documents:
            bodies = bench.request_bodies(dialect, kind, top_k)
            series = f"{kind} ({'cached vectors' if kind == 'ids' else 'online encoding'})"
            steps += asyncio.run(bench.bench(url, dialect, bodies, rates, duration, series, api_key))
    target = api_base or f"resrank-eval serve ({model or 'bundled ResRank-mini'}, device {device or 'default'}, max batch {max_batch})"
    title = f"{target}: {dialect} dialect, top-{top_k} passages per request, {duration:g} s per step ({platform.node()})"
    settings = {"api_base": api_base, "dialect": dialect, "documents": list(documents), "top_k": top_k, "rates": rates,
                "duration_s": duration, "model": model, "dense_index": dense_index, "device": device, "dtype": dtype,
                "max_batch": max_batch, "max_wait_ms": max_wait_ms, "max_queue": max_queue}
    paths = bench.save(steps, output, title, settings)
    click.echo(bench.table(steps))
    click.echo(f"wrote {', '.join(map(str, paths))}", err=True)


COMMANDS = [serve, bench_serve]
