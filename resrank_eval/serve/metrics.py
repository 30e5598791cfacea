"""Prometheus metrics of one server: requests by route and status, latency, queue depth, batch sizes and times.

Each app owns its own registry (tests build several apps in one process; a Ray replica exposes its
own ``/metrics``). Latency buckets run from 5 ms to 2 min: a cached-vector request on a GPU and an
online-encoding one on a CPU both fall inside.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The collectors; :meth:`observe_batch` has :class:`~.batching.MicroBatcher`'s ``observe`` signature."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("resrank_requests", "HTTP requests answered, by route and status.", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("resrank_request_seconds", "Time from request to response, by route.", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("resrank_queue_depth", "Requests waiting for the model (not those timed out or hung up).",
                                 registry=self.registry)
        self.queue_wait = Histogram("resrank_queue_seconds", "Time a request waited before its batch started.",
                                    buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("resrank_batch_size", "Requests per model call.", buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_seconds = Histogram("resrank_batch_seconds", "Model time per batch.", buckets=LATENCY_BUCKETS,
                                       registry=self.registry)
        self.documents = Counter("resrank_documents", "Documents reranked, by where their vector came from.", ["vector"],
                                 registry=self.registry)

    def track_queue(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, size: int, queue_seconds: list[float], compute_seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(compute_seconds)
        for seconds in queue_seconds:
            self.queue_wait.observe(seconds)

    def observe_documents(self, cached: int, encoded: int) -> None:
        self.documents.labels("cached").inc(cached)
        self.documents.labels("encoded").inc(encoded)

    def render(self) -> bytes:
        return generate_latest(self.registry)
