"""The HTTP face of :class:`~.service.RerankService`: FastAPI routes for the three dialects, operations, and errors.

FastAPI (on Starlette, served by uvicorn) rather than LitServe: the three dialects are three request
schemas on one handler, which FastAPI validates and documents (``/docs``, ``/openapi.json``) from the
pydantic models, and its body-size limit, exception handlers and lifespan cover the rest; LitServe
fixes one ``decode_request -> predict -> encode_response`` shape per server and brings its own
batching and worker processes, where ResRank needs its batching around the reranker's
``rerank_batch`` and one model per process. The same app object runs under uvicorn and inside a
Ray Serve replica (:mod:`.ray_deployment`).

Every error is JSON ``{"error": "<field>: <what>", "error_type", "field"}`` (TEI's keys, plus the
field): 400 unreadable JSON, 401 missing or wrong API key, 404 a model other than the one served,
413 a size limit, 415 not JSON (or compressed), 422 a wrong value or type, 503 with ``Retry-After`` when the queue is
full, the model is loading, the server is draining, or the request was not served within the timeout.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ResrankError
from ..formats.ids import shown
from ..version import __version__
from .batching import Overloaded
from .dialects import CohereRequest, JinaRequest, TeiRequest, cohere_response, jina_response, tei_response
from .service import RequestError, RerankService

if TYPE_CHECKING:
    import uvicorn

    from .dialects import RerankAnswer, RerankCall

access_log = logging.getLogger("resrank_eval.serve.access")
log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
"""Reachable without the API key: probes and the API's own documentation."""
REQUEST_ID = "resrank.request_id"


def error_response(status: int, field: str, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": f"{field}: {message}", "error_type": kind, "field": field}, status, headers)


def build_app(service: RerankService) -> FastAPI:
    """The app for one service: routes, the edge middleware (request ids, API key, metrics, access log), error handlers."""
    settings = service.settings
    api_key = settings.api_key()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    # redirect_slashes off: Starlette answers "/v1/rerank/" with a 307 to an absolute URL built from the Host header, wrong
    # behind a proxy, and a client that follows it may drop the POST body; every path is served under one spelling only
    app = FastAPI(title="ResRank rerank server", version=__version__, lifespan=lifespan, redirect_slashes=False,
                  description=f"Model **{settings.model_name}**: Cohere v2 (`/v2/rerank`), Jina (`/v1/rerank`) and "
                              "text-embeddings-inference (`/rerank`) dialects; documents as text or `{\"id\"}` of the dense index.")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return exc.response()
        if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI's "error parsing the body", raised from the cause
            return error_response(400, "body", f"not valid JSON ({unreadable(exc.__cause__)})", "json")
        path = request.url.path
        if exc.status_code == 404:
            return error_response(404, "path", not_served(path, routes, rerank_routes), "http")
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return error_response(405, "method", f"{request.method} is not allowed on {shown(path)}; it takes {allowed}", "http",
                                  exc.headers)
        return error_response(exc.status_code, "path", str(exc.detail), "http", exc.headers)

    @app.exception_handler(RequestError)
    async def refused(_: Request, exc: RequestError) -> JSONResponse:
        message = str(exc).removeprefix(f"{exc.field}: ")
        return error_response(exc.status, exc.field, message, {413: "size", 499: "disconnected"}.get(exc.status, "validation"))

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return error_response(503, "server", str(exc), "overloaded", {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.error("request %s failed: %s: %s", request.scope.get(REQUEST_ID), type(exc).__name__, exc, exc_info=exc)
        return error_response(500, "server", "internal error (logged on the server)", "internal")

    def request_id(request: Request) -> str:
        return str(request.scope.get(REQUEST_ID) or uuid.uuid4().hex)

    def check_model(model: str | None) -> None:
        """A request naming another model is answered 404, as Cohere, Jina and vLLM answer a model they do not serve:
        answering with this one would pass its scores off as the other's."""
        if model is not None and model != settings.model_name:
            raise RequestError(404, "model", f"{shown(model)} is not served here; this server serves {shown(settings.model_name)}")

    async def answered(request: Request, call: RerankCall, rid: str) -> RerankAnswer:
        """The service's answer, unless the client hangs up first: then its request leaves the queue uncomputed, as a
        timed-out one does (nobody waits for it), and is logged as 499, nginx's "client closed request"."""
        work = asyncio.ensure_future(service.rerank(call, rid))
        hangup = asyncio.ensure_future(hung_up(request))
        try:
            done, _ = await asyncio.wait({work, hangup}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, hangup):
                task.cancel()  # no-op on the finished one
        if work not in done:
            raise RequestError(499, "client", "closed the connection before the answer")
        return work.result()

    @app.post("/v2/rerank", tags=["rerank"], summary="Cohere v2 rerank")
    async def rerank_cohere(body: CohereRequest, request: Request) -> JSONResponse:
        """`{model, query, documents, top_n, return_documents}` -> `{id, results: [{index, relevance_score}], meta}`."""
        check_model(body.model)
        rid, call = request_id(request), body.call()
        answer = await answered(request, call, rid)
        return JSONResponse(cohere_response(answer, call, rid, body.return_documents), headers=answer.headers())

    @app.post("/v1/rerank", tags=["rerank"], summary="Jina / generic rerank")
    async def rerank_jina(body: JinaRequest, request: Request) -> JSONResponse:
        """`{model, query, documents, top_n, return_documents}` -> `{model, usage, results: [{index, relevance_score, document}]}`."""
        check_model(body.model)
        call = body.call()
        answer = await answered(request, call, request_id(request))
        return JSONResponse(jina_response(answer, call, settings.model_name, body.return_documents), headers=answer.headers())

    @app.post("/rerank", tags=["rerank"], summary="text-embeddings-inference rerank")
    async def rerank_tei(body: TeiRequest, request: Request) -> JSONResponse:
        """`{query, texts, raw_scores, return_text}` -> `[{index, score, text}]`, best first."""
        call = body.call()
        if body.return_text:  # a dense index has no passage texts: an id's "text" would be the id
            for i, doc in enumerate(call.documents):
                if doc.id is not None:
                    raise RequestError(422, "return_text", f"texts[{i}] is an id of the dense index, which holds vectors, not texts; "
                                                           "send the passage's text, or leave return_text false")
        answer = await answered(request, call, request_id(request))
        return JSONResponse(tei_response(answer, call, body.raw_scores, body.return_text), headers=answer.headers())

    @app.get("/health", tags=["operations"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], summary="Readiness: the model is loaded and warmed")
    async def ready() -> JSONResponse:
        body = {"status": service.state, "model": settings.model_name, "dense_index": settings.index_path}
        return JSONResponse({**body, "error": service.error} if service.error else body, 200 if service.state == "ready" else 503)

    for path, probe in (("/health", health), ("/ready", ready)):  # curl -I and uptime monitors probe with HEAD
        app.head(path, include_in_schema=False)(probe)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=service.metrics.content_type)

    routes = frozenset(getattr(route, "path", "") for route in app.routes)
    rerank_routes = [route.path for route in app.routes if "rerank" in getattr(route, "tags", ())]
    app.add_middleware(Edge, service=service, api_key=api_key, routes=routes, max_body_bytes=settings.max_body_bytes)
    return app


async def hung_up(request: Request) -> None:
    """Returns once the client disconnects: with the body read, the next ASGI message is ``http.disconnect``."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def not_served(path: str, routes: frozenset[str], rerank_routes: list[str]) -> str:
    """Why ``path`` is 404, naming the route meant where the path holds one: behind a trailing slash, or behind a path of
    the client's base URL (``ClientV2(base_url=".../v2")`` posts to ``/v2/v2/rerank``); else the rerank routes."""
    bare = path.rstrip("/")
    if bare in routes:
        return f"{shown(path)} is not served; the route is {shown(bare)} (no trailing slash)"
    meant = max((route for route in routes if len(route) > 1 and bare.endswith(route)), key=len, default=None)
    if meant is not None:
        return f"{shown(path)} is not served; the route is {shown(meant)} (a client's base URL is the server's root, no path)"
    return f"{shown(path)} is not served; the rerank routes are {', '.join(rerank_routes)} (all routes: /docs)"


JSON_TYPES = {"string_type": "a string", "int_type": "an integer", "bool_type": "true or false", "list_type": "an array",
              "model_type": "an object", "model_attributes_type": "an object"}
"""pydantic's wrong-type errors, in JSON's words: its own messages say "a valid dictionary" and never what was sent."""


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """The first error, as one line naming its field (``documents[3]``): 400 for unreadable JSON, 415 for a body that is not JSON."""
    error = exc.errors()[0]
    loc = [part for part in error.get("loc", ()) if part != "body"]
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        return error_response(400, "body", f"not valid JSON ({reason} at character {loc[0] if loc else 0})", "json")
    if isinstance(error.get("input"), (bytes, bytearray)) and not loc:
        return error_response(415, "body", "send JSON, with Content-Type: application/json", "json")
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".") or "body"
    kind, got, limits = str(error.get("type")), shown(error.get("input")), error.get("ctx") or {}
    if kind in JSON_TYPES:
        message = f"must be {JSON_TYPES[kind]}, got {got}"
    elif kind == "greater_than_equal":
        message = f"must be at least {limits['ge']}, got {got}"
    elif kind == "too_short":
        least = limits["min_length"]
        message = f"must hold at least {least} item{'s' if least != 1 else ''}, got {limits['actual_length']}"
    else:
        message = str(error.get("msg", "invalid"))
    return error_response(422, field, message, "validation")


def unreadable(cause: BaseException) -> str:
    """Why ``json.loads`` failed on a body other than by a syntax error (which FastAPI reports itself, as ``json_invalid``)."""
    if isinstance(cause, UnicodeDecodeError):
        return f"not UTF-8 at byte {cause.start}"
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    return type(cause).__name__


class BodyTooLarge(HTTPException):
    """A body past the limit, raised from ``receive`` while FastAPI reads it (a body sent without Content-Length)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"larger than {limit} bytes")

    def response(self) -> JSONResponse:
        return error_response(413, "body", str(self.detail), "size")


class Edge:
    """Pure ASGI middleware around every request: an id, the API key, the body limit, and, once answered, metrics and
    one JSON access-log line."""

    def __init__(self, app: ASGIApp, service: RerankService, api_key: str | None, routes: frozenset[str], max_body_bytes: int) -> None:
        self.app, self.service, self.api_key, self.routes = app, service, api_key, routes
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = uuid.uuid4().hex
        scope[REQUEST_ID] = rid
        status = 500  # what the client sees if the app fails before answering (Starlette's ServerErrorMiddleware)
        answering = False

        async def answer(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                status, answering = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise BodyTooLarge(self.max_body_bytes)
            return message

        try:
            if not self.authorized(scope):
                await error_response(401, "authorization", "missing or wrong API key (Authorization: Bearer <key>)", "auth",
                                     {"WWW-Authenticate": "Bearer"})(scope, receive, answer)
            elif self.declared_length(scope) > self.max_body_bytes:
                await BodyTooLarge(self.max_body_bytes).response()(scope, receive, answer)
            elif (coding := self.content_coding(scope)) not in ("", "identity"):
                await error_response(415, "body", f"Content-Encoding {shown(coding)} is not supported; send the JSON uncompressed",
                                     "json")(scope, receive, answer)
            else:
                try:
                    await self.app(scope, limited, answer)
                except asyncio.CancelledError:  # uvicorn cancels what still runs when the drain ends; its own answer is a text 500
                    if answering:
                        raise
                    await error_response(503, "server", "the server is shutting down", "overloaded",
                                         {"Retry-After": "1"})(scope, receive, answer)
        finally:
            path = scope.get("path", "")
            route = path if path in self.routes else "other"
            seconds = time.perf_counter() - started
            self.service.metrics.observe_request(route, status, seconds)
            client = scope.get("client")
            access_log.info(json.dumps({
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": rid, "method": scope.get("method"),
                "path": path, "status": status, "ms": round(seconds * 1000, 2), "client": client[0] if client else None,
            }))

    @staticmethod
    def declared_length(scope: Scope) -> int:
        """The Content-Length header's value (0 when absent or unreadable: ``receive`` counts the bytes anyway)."""
        value = dict(scope.get("headers", [])).get(b"content-length", b"0")
        return int(value) if value.isdigit() else 0

    @staticmethod
    def content_coding(scope: Scope) -> str:
        """The Content-Encoding header's value: a compressed body would reach the JSON parser as bytes it calls not UTF-8."""
        return dict(scope.get("headers", [])).get(b"content-encoding", b"").decode("latin-1").strip().lower()

    def authorized(self, scope: Scope) -> bool:
        if self.api_key is None or scope.get("path") in OPEN_PATHS:
            return True
        given = dict(scope.get("headers", [])).get(b"authorization", b"")
        scheme, _, token = given.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key.encode())


def serve(service: RerankService, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app under uvicorn until SIGINT/SIGTERM, then drain: new connections are refused, in-flight requests have
    ``drain_s`` seconds to finish, the rest are answered 503, and the process exits. The whole shutdown takes ``drain_s`` at
    most, and a fraction of a second: a model batch still running then is abandoned (:func:`exit_if_model_busy`).

    Binds first, so the log names the real port (``port=0`` picks a free one). A model that fails to
    load stops the server and is raised here.
    """
    server, sock = _server(service, host, port)
    failures: list[BaseException] = []

    def stop(exc: BaseException) -> None:
        failures.append(exc)
        server.should_exit = True

    service.on_load_failure = stop
    log.info("serving %s on %s (API docs: /docs; ready when /ready says so)", service.settings.model_name, _url(host, sock))
    try:
        server.run(sockets=[sock])  # a SIGTERM drained for ends the process here (uvicorn raises it again), except as PID 1
    except KeyboardInterrupt:  # Ctrl-C, raised again after the drain
        exit_if_model_busy(service, 130)
        raise
    exit_if_model_busy(service, 0)
    if failures:
        raise failures[0]


def exit_if_model_busy(service: RerankService, status: int) -> None:
    """Exit the process now if the drain left the model on a batch (or still loading): a normal exit joins the model
    thread, so the process outlived the drain by the rest of a batch nobody awaits any more."""
    if service.model_busy:
        log.warning("exiting with the model still busy, past the %g s drain", service.settings.drain_s)
        logging.shutdown()
        os._exit(status)


@contextmanager
def serving(service: RerankService, host: str = "127.0.0.1", port: int = 0, ready_timeout_s: float = 600.0) -> Iterator[str]:
    """The same server in a background thread of this process (tests, notebooks, in-process benchmarks): its URL once
    the model is ready; stopped (drained) on exit. A model that fails to load is a :class:`ResrankError` here."""
    server, sock = _server(service, host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not (server.started and service.state != "loading"):
            if not thread.is_alive():
                raise ResrankError("the server thread stopped before it was ready")
            if time.monotonic() > deadline:
                raise ResrankError(f"the server was not ready within {ready_timeout_s:g} s")
            time.sleep(0.02)
        if service.state == "failed":
            raise ResrankError(f"model {service.settings.model_name!r} failed to load: {service.error}")
        yield _url(host, sock)
    finally:
        server.should_exit = True
        thread.join(service.settings.drain_s + 10)
    if thread.is_alive():
        raise ResrankError(f"the server did not stop within {service.settings.drain_s + 10:g} s")


def _server(service: RerankService, host: str, port: int) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server for the service's app and its bound socket (``port=0``: a free one).

    Bound here, not by uvicorn's ``bind_socket``, which logs a port in use or an unknown host and exits 3."""
    import uvicorn

    config = uvicorn.Config(build_app(service), host=host, port=port, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=service.settings.drain_s)  # type: ignore[arg-type]  # seconds
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise ResrankError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return uvicorn.Server(config), sock


def _url(host: str, sock: socket.socket) -> str:
    return f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
