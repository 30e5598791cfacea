"""Past one machine: the same app as Ray Serve replicas, one model (and one GPU) each, behind Ray's HTTP proxy.

Each replica builds :class:`~.service.RerankService` and its FastAPI app exactly as ``resrank-eval serve``
does (``__serve_build_asgi_app__``), loads and warms the model before Ray marks it running, and
batches its own requests; Ray routes requests across replicas and, with autoscaling bounds, adds or
removes replicas by the requests in flight per replica. Ray's own per-replica cap is set above the
service's queue, so backpressure stays the service's (503 + ``Retry-After``). Needs the ``ray`` extra.

One node: ``serve run resrank_eval.serve.ray_deployment:build replicas=2``; a cluster: the same on the
head node after ``ray start --head`` / ``ray start --address=...`` on the workers, or ``serve deploy``
with a config file naming this builder. Arguments are :class:`~.service.ServeSettings` fields
(``model=... dense_index=... max_batch=...``) plus ``replicas``, ``min_replicas``/``max_replicas``
(autoscaling instead of a fixed count), ``gpus_per_replica`` and ``cpus_per_replica``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter
from ray import serve

from .app import build_app
from .service import RerankService, ServeSettings


@serve.ingress()
class RerankReplica:
    """One replica: the model loaded and warmed in the constructor, then the same app as ``resrank-eval serve``."""

    def __init__(self, settings: ServeSettings) -> None:
        self.service = RerankService(settings)
        self.service.load()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_app(self.service)


def ray_application(settings: ServeSettings, replicas: int = 1, min_replicas: int | None = None, max_replicas: int | None = None,
                    gpus_per_replica: float = 0.0, cpus_per_replica: float = 1.0) -> serve.Application:
    """The bound application: ``replicas`` fixed, or autoscaled between ``min_replicas`` and ``max_replicas`` by requests
    in flight (target: one full batch per replica)."""
    scaling: dict[str, Any] = {"num_replicas": replicas}
    if min_replicas is not None or max_replicas is not None:
        low = min_replicas if min_replicas is not None else 1
        scaling = {"autoscaling_config": {"min_replicas": low, "max_replicas": max_replicas if max_replicas is not None else low,
                                          "target_ongoing_requests": settings.max_batch}}
    deployment = serve.deployment(RerankReplica, name="resrank", max_ongoing_requests=settings.max_queue + settings.max_batch,
                                  ray_actor_options={"num_gpus": gpus_per_replica, "num_cpus": cpus_per_replica},
                                  graceful_shutdown_timeout_s=settings.drain_s, **scaling)
    return deployment.bind(settings)


def build(args: dict[str, str]) -> serve.Application:
    """Ray's application builder (``serve run resrank_eval.serve.ray_deployment:build key=value ...``): strings to typed settings."""
    fields = {f.name for f in dataclasses.fields(ServeSettings)}
    unknown = sorted(set(args) - fields - {"replicas", "min_replicas", "max_replicas", "gpus_per_replica", "cpus_per_replica"})
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]!r}; known: {', '.join(sorted(fields))}, replicas, min_replicas, "
                         "max_replicas, gpus_per_replica, cpus_per_replica")
    settings = TypeAdapter(ServeSettings).validate_python({k: v for k, v in args.items() if k in fields})
    counts = {k: int(args[k]) for k in ("replicas", "min_replicas", "max_replicas") if k in args}
    resources = {k: float(args[k]) for k in ("gpus_per_replica", "cpus_per_replica") if k in args}
    return ray_application(settings, **counts, **resources)
