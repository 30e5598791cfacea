"""``serve`` and ``bench-serve``: a ResRank model behind the rerank APIs, and its latency-throughput curve."""

from __future__ import annotations

import click

from .common import POSITIVE, device_option, dtype_option


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
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="How long a request waits for others to share its batch when the model is idle.")
@click.option("--max-queue", type=POSITIVE, default=256, show_default=True, help="Requests waiting beyond this are answered 503.")
@click.option("--max-documents", type=POSITIVE, default=1000, show_default=True, help="Documents per request (more: 413).")
@click.option("--max-chars", type=POSITIVE, default=20_000, show_default=True, help="Characters per document and query (more: 413).")
@click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=16.0, show_default=True,
              help="Request body size in MiB (more: 413).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds a request may wait and run before it is answered 503.")
@click.option("--drain", "drain_s", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="On SIGTERM/SIGINT, seconds to finish in-flight requests.")
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
    from ..rerank.registry import reranker_arguments

    settings = ServeSettings(model, dense_index, device, dtype, max_batch, max_wait_ms, max_queue, max_documents, max_chars,
                             round(max_body_mb * 2**20), timeout_s, drain_s, api_key_env)
    settings.api_key()  # an unset key variable is an error before anything loads
    reranker_arguments("resrank", model=settings.model_path, dense_index=settings.index_path, device=device, dtype=dtype)
    run(RerankService(settings), host, port)


COMMANDS = [serve]
