"""The Ray Serve recipe on a local Ray instance: two CPU replicas of the same app answer as the one-process server does."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from resrank_eval.serve import RerankService, ServeSettings, serving
from tests.helpers import SERVE_DOCS, SERVE_QUERIES

ray = pytest.importorskip("ray", reason='the ray extra is not installed (pip install "resrank-eval[ray]")')
serve = pytest.importorskip("ray.serve", reason='the ray extra is not installed (pip install "resrank-eval[ray]")')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A local Ray with 2 CPUs (no dashboard) and Serve's proxy on a free port; shut down afterwards."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")), runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        yield port
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.mark.slow  # ~50 s on 2 cores: Ray's start-up and two replicas
def test_two_cpu_replicas_answer_as_one_server(ray_instance: int, model_dir: Path, index_dir: Path) -> None:
    from resrank_eval.serve.ray_deployment import build

    with pytest.raises(ValueError, match="unknown argument 'modle'"):
        build({"modle": str(model_dir)})

    args = {"model": str(model_dir), "dense_index": str(index_dir), "device": "cpu", "max_batch": "4",
            "replicas": "2", "cpus_per_replica": "1"}
    serve.run(build(args), name="resrank", route_prefix="/", blocking=False)
    status = serve.status().applications["resrank"]
    replicas = status.deployments["resrank"].replica_states
    assert str(status.status).endswith("RUNNING") and replicas.get("RUNNING") == 2, status
    url = f"http://127.0.0.1:{ray_instance}"
    bodies = [{"query": SERVE_QUERIES[i % len(SERVE_QUERIES)], "texts": [SERVE_DOCS["d2"], SERVE_DOCS["d5"], {"id": "d6"}][: 2 + i % 2], "raw_scores": True}
              for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        via_ray = list(pool.map(lambda body: httpx.post(f"{url}/rerank", json=body, timeout=120), bodies))
    assert all(r.status_code == 200 for r in via_ray), via_ray[0].text
    assert httpx.get(f"{url}/ready").json()["status"] == "ready"
    assert httpx.post(f"{url}/rerank", json={"query": "q", "texts": []}).status_code == 422  # the same app's checks
    with serving(RerankService(ServeSettings(str(model_dir), str(index_dir), "cpu"))) as alone:
        for body, response in zip(bodies, via_ray):
            want, got = httpx.post(f"{alone}/rerank", json=body, timeout=60).json(), response.json()
            assert [r["index"] for r in got] == [r["index"] for r in want]
            assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], abs=1e-5)


def test_drain_s_is_the_replicas_graceful_shutdown() -> None:
    """A replica's app stops at once, as the one-process server's does (its drain is the server's): Ray's graceful shutdown,
    20 s by default, is given ``drain_s``, so a replica's shutdown is bounded by it too. (Ray has no public accessor.)"""
    from resrank_eval.serve.ray_deployment import ray_application

    application = ray_application(ServeSettings(drain_s=7.5))
    assert application._bound_deployment._deployment_config.graceful_shutdown_timeout_s == 7.5
