"""``resrank-eval serve``: a ResRank reranker behind the rerank APIs clients already speak.

:class:`ServeSettings` says how a server runs, :class:`RerankService` is the handler (reranker,
limits, micro-batching), :func:`build_app` its FastAPI app (Cohere v2 ``/v2/rerank``, Jina
``/v1/rerank``, text-embeddings-inference ``/rerank``, ``/health``, ``/ready``, ``/metrics``),
:func:`serve` runs it under uvicorn (:func:`serving`: in a background thread); :mod:`.ray_deployment` runs
the same app as Ray Serve replicas and :mod:`.bench` measures any ``/rerank`` server. Needs the ``serve`` extra (FastAPI, uvicorn,
prometheus-client): ``pip install "resrank-eval[serve]"``.
"""

from .app import build_app, serve, serving
from .service import RerankService, ServeSettings

__all__ = ["RerankService", "ServeSettings", "build_app", "serve", "serving"]
