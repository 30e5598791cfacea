"""The latency-throughput curve of ResRank served over HTTP at a model shape: cached passage vectors vs online encoding.

``resrank-eval bench-serve`` measures a server of a real checkpoint on NFCorpus; no 4B checkpoint is at
hand, so this serves ``bench_resrank.py``'s random-weight model (its builder: Qwen3-4B-shaped encoder and
reranker for a GPU, ``tiny`` for a CPU; latency does not depend on weight values) in one process, the way
``resrank-eval serve --model M --dense-index I`` serves: a synthetic corpus of ``--corpus`` passages whose
random unit vectors form a dense index folder (vectors only, like the bundled one), a
:class:`~resrank_eval.rerank.resrank.ResRankReranker` reading it, :class:`~resrank_eval.serve.RerankService`
and uvicorn in a thread (:func:`~resrank_eval.serve.serving`). Before timing, the reranker runs once at
every batch shape the steps reach (powers of two up to ``--max-batch``), so CUDA graphs are captured
outside the measurement (``checks`` in the JSON says how many were captured during the steps).

:mod:`resrank_eval.serve.bench` drives it from a child process (so the client never competes with the
server for the GIL): open-loop Poisson arrivals, TEI ``/rerank`` bodies of ``--top-k`` ids of the index
(cached vectors) at ``--id-rates``, then of ``--top-k`` synthetic passages of ~``--passage-tokens`` tokens
(online encoding) at ``--text-rates``, ``--duration`` s per step. A step that fails prints its traceback
and the next runs; one that would start past ``--time-budget`` s is skipped; ``serve.json`` (settings,
meta, steps, checks, failures) and ``serve.png`` are rewritten after every step, so a killed run still
reports. The tables go to stdout.

    python scripts/bench_serve_gpu.py --shape 4b --tokenizer DIR --out OUT    # a GPU (scripts/gpu_check.sh run)
    python scripts/bench_serve_gpu.py --smoke --out OUT                         # seconds on a CPU (the test suite's form)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import platform
import random
import statistics
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import bench_resrank  # a sibling script: run as a script, scripts/ is on sys.path
import numpy as np
import torch

from resrank_eval.jobs import Outputs, seal
from resrank_eval.model import ResRankModel
from resrank_eval.model.loading import resolve_device, resolve_dtype
from resrank_eval.provenance import Provenance
from resrank_eval.rerank.resrank import ResRankReranker
from resrank_eval.retrieve.dense import DOCID_FILE, META_FILE, PROBE_TEXT, VECTORS_FILE
from resrank_eval.serve import RerankService, ServeSettings, bench, serving
from resrank_eval.types import Candidate, Query, Ranking

DIALECT = "tei"
WORDS = ("the of and to in is was for on that with as by at from they have this are which were not but had one all their "
         "been has more when who will there would can no if its out into only other time new some could these two may first "
         "then any like now over such our even most made after also did many before must through years where much way well "
         "down should because each just those people how little state good very make world still own see work long get here "
         "between both life being under never day same another know while last might great old year off come since against "
         "came right used take three health vitamin winter deficiency effects patients study risk blood levels").split()


def write_index(folder: Path, docids: list[str], encoder: Any, seed: int = 0) -> Path:
    """A vectors-only dense index (what rerankers read: ``docid``, ``vectors.npy``, ``encoder.json`` last) of random unit
    vectors, with ``encoder``'s probe so that the reranker accepts it."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(docids), encoder.dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / VECTORS_FILE, vectors)
    (folder / DOCID_FILE).write_text("\n".join(docids) + "\n", encoding="utf-8")
    with torch.inference_mode():
        probe = encoder.encode([PROBE_TEXT]).float().cpu().numpy()[0]
    (folder / META_FILE).write_text(json.dumps({"count": len(docids), "dim": encoder.dim, "probe": probe.tolist()}) + "\n",
                                    encoding="utf-8")
    seal(Provenance.of("bench-serve-gpu", {"seed": seed}), Outputs.folder(folder, DOCID_FILE, VECTORS_FILE, META_FILE))
    return folder


def synthetic_passages(encoder: Any, count: int, tokens: int, seed: int = 0) -> list[str]:
    """``count`` distinct word salads of about ``tokens`` encoder tokens each (words per token measured on a sample)."""
    rng = random.Random(seed)
    sample = [" ".join(rng.choices(WORDS, k=100)) for _ in range(16)]
    per_word = statistics.fmean(map(len, encoder.tokenize(sample))) / 100
    words = max(1, round(tokens / per_word))
    return [f"{i} " + " ".join(rng.choices(WORDS, k=words)) for i in range(count)]


def drive(url: str, bodies: list[dict[str, Any]], rate: float, duration_s: float, series: str) -> bench.Step:
    """One offered load against ``url`` (run in the client process)."""
    return asyncio.run(bench.bench(url, DIALECT, bodies, [rate], duration_s, series, warmup=1))[0]


def graph_counts(model: ResRankModel) -> dict[str, int]:
    graphs, encoder = model.scoring.graphs, model.encoder.graphs
    return {"reranker": graphs.captured() if graphs else 0, "encoder": encoder.captured() if encoder else 0}


def server_counts(service: RerankService) -> dict[str, float]:
    """The server's own counters (its Prometheus registry): documents by vector source, batches and model seconds."""
    sample = service.metrics.registry.get_sample_value
    return {"cached": sample("resrank_documents_total", {"vector": "cached"}) or 0.0,
            "encoded": sample("resrank_documents_total", {"vector": "encoded"}) or 0.0,
            "batches": sample("resrank_batch_seconds_count") or 0.0, "model_s": sample("resrank_batch_seconds_sum") or 0.0,
            "requests": sample("resrank_batch_size_sum") or 0.0}


def server_delta(step: str, before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """What the server did during one step (its client's one warm-up request included): documents read from the index vs
    encoded, model calls, requests per call and model ms per call (the rest of a request's latency is queueing and HTTP)."""
    done = {key: after[key] - before[key] for key in after}
    calls = done["batches"]
    return {"step": step, "documents_cached": int(done["cached"]), "documents_encoded": int(done["encoded"]),
            "model_calls": int(calls), "requests_per_call": done["requests"] / calls if calls else None,
            "model_ms_per_call": done["model_s"] * 1000 / calls if calls else None}


def warm_up(reranker: ResRankReranker, rankings: dict[str, list[Ranking]], max_batch: int) -> None:
    """Every reranker batch shape the server can form (powers of two up to ``max_batch``; it pads the rest to them), and
    the encoder's row counts of 1, 2 and 4 text requests (100 k passages in encoder batches leave 4 k mod its batch)."""
    sizes = sorted({min(1 << k, max_batch) for k in range(max_batch.bit_length() + 1)})
    for size in sizes:
        reranker.rerank_batch(rankings["ids"][:size])
    for size in (1, 2, 4):
        reranker.rerank_batch(rankings["text"][:size])


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    client = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    client.submit(int)  # the child starts (imports its modules) while the model builds
    torch.manual_seed(0)
    model = bench_resrank.build_model(args.shape, device, dtype, args.top_k, True, args.tokenizer, chat=args.tokenizer is not None)
    built = time.perf_counter() - started

    rng = random.Random(0)
    docids = [f"doc{i}" for i in range(args.corpus)]
    queries = [f"{bench_resrank.QUERY} {i}" for i in range(16)]
    id_lists = [(queries[i % len(queries)], rng.sample(docids, args.top_k)) for i in range(200)]
    texts = synthetic_passages(model.encoder, 2 * max(args.max_batch, 8) * args.top_k, args.passage_tokens)
    text_lists = [(queries[i % len(queries)], texts[i * args.top_k:(i + 1) * args.top_k]) for i in range(len(texts) // args.top_k)]
    passage_tokens = [len(ids) for ids in model.encoder.tokenize(texts)]
    bodies = {"ids": bench.dialect_bodies(DIALECT, [(q, [{"id": d} for d in ds]) for q, ds in id_lists]),
              "text": bench.dialect_bodies(DIALECT, text_lists)}
    rankings = {"ids": [Ranking(Query(f"w{i}", q), [Candidate(d, -r) for r, d in enumerate(ds, 1)]) for i, (q, ds) in enumerate(id_lists)],
                "text": [Ranking(Query(f"w{i}", q), [Candidate(f"w{i}-{r}", -r, t) for r, t in enumerate(ts, 1)])
                         for i, (q, ts) in enumerate(text_lists)]}

    with tempfile.TemporaryDirectory(prefix="bench-serve-index-") as scratch:
        index = write_index(Path(scratch) / "index", docids, model.encoder)
        reranker = ResRankReranker(model, embeddings=index)
        with torch.inference_mode():
            warm_up(reranker, rankings, args.max_batch)
        warmed = time.perf_counter() - started - built
        settings = ServeSettings(f"resrank-{args.shape}-random", str(index), max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                                 max_queue=args.max_queue, timeout_s=args.request_timeout, max_documents=max(1000, args.top_k))
        doc: dict[str, Any] = {
            "settings": {"dialect": DIALECT, "top_k": args.top_k, "id_rates": args.id_rates, "text_rates": args.text_rates,
                         "duration_s": args.duration, "corpus": args.corpus, "passage_tokens": args.passage_tokens,
                         "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms, "max_queue": args.max_queue,
                         "request_timeout_s": args.request_timeout, "shape": args.shape, "device": str(device), "dtype": str(dtype)},
            "meta": {"device": card, "torch": torch.__version__, "commit": os.environ.get("RESRANK_COMMIT"),
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "build_s": round(built, 1),
                     "warm_up_s": round(warmed, 1), "prompt_tokens": len(model.prompts.build(queries[0], args.top_k).ids),
                     "passage_tokens_mean": statistics.fmean(passage_tokens), "passage_tokens_max": max(passage_tokens)},
            "steps": [], "server": [], "checks": {}, "failures": [], "skipped": []}
        title = (f"ResRank {args.shape} (random weights) on {card}, {str(dtype).removeprefix('torch.')}: TEI /rerank, top-{args.top_k}, "
                 f"max batch {args.max_batch}, {args.duration:g} s per step")
        steps: list[bench.Step] = []
        service = RerankService(settings, reranker=reranker)
        with client, serving(service) as url:
            doc["checks"]["graphs_after_warm_up"] = graph_counts(model)  # the server's own warm-up batch included
            print(f"{title}\nbuilt in {built:.1f} s, warmed in {warmed:.1f} s; graphs {doc['checks']['graphs_after_warm_up']}; "
                  f"prompt {doc['meta']['prompt_tokens']} tokens; passages {doc['meta']['passage_tokens_mean']:.1f} tokens (max "
                  f"{doc['meta']['passage_tokens_max']}); commit {doc['meta']['commit']}", flush=True)
            for kind, series, rates in (("ids", "ids (cached vectors)", args.id_rates), ("text", "text (online encoding)", args.text_rates)):
                for rate in rates:
                    name = f"{series} at {rate:g} req/s"
                    if time.perf_counter() - started + args.duration > args.time_budget:
                        print(f"SKIPPED {name}: past the {args.time_budget:g} s budget", flush=True)
                        doc["skipped"].append(name)
                        continue
                    try:
                        before = server_counts(service)
                        steps.append(client.submit(drive, url, bodies[kind], rate, args.duration, series).result())
                        doc["server"].append(server_delta(name, before, server_counts(service)))
                        print(bench.table(steps[-1:]).splitlines()[-1], flush=True)
                    except Exception as exc:  # noqa: BLE001 - one broken step must not hide the others
                        print(f"FAILED {name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}", flush=True)
                        doc["failures"].append({"step": name, "error": f"{type(exc).__name__}: {exc}"})
                    doc["steps"] = [asdict(s) for s in steps]
                    doc["checks"]["graphs_after_steps"] = graph_counts(model)
                    save(doc, steps, out, title)
    print(f"\n{title}\n\n{bench.table(steps) if steps else 'no step finished'}\n\ngraphs captured after warm-up "
          f"{doc['checks']['graphs_after_warm_up']}, after the steps {doc['checks'].get('graphs_after_steps')}; "
          f"{time.perf_counter() - started:.0f} s in all")
    return doc


def save(doc: dict[str, Any], steps: list[bench.Step], out: Path, title: str) -> None:
    """``serve.json`` (``bench-serve``'s settings and steps, plus meta, checks, failures) and ``serve.png`` (its plot)."""
    (out / "serve.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if steps:
        bench.plot(steps, out / "serve.png", title)


def rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(bench_resrank.SHAPES), default=None, help="default: 4b on GPU, tiny on CPU")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder with a chat template (default: a 512-token BPE trained here)")
    parser.add_argument("--top-k", type=int, default=100, help="documents per request")
    parser.add_argument("--corpus", type=int, default=2000, help="passages with cached vectors")
    parser.add_argument("--passage-tokens", type=int, default=128, help="about this long, the text documents")
    parser.add_argument("--id-rates", type=rates, default=[25, 100, 200, 400], help="offered req/s, documents as ids")
    parser.add_argument("--text-rates", type=rates, default=[2, 4, 8], help="offered req/s, documents as text")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of arrivals per step")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-queue", type=int, default=256)
    parser.add_argument("--request-timeout", type=float, default=20.0, help="the server's timeout_s: bounds each step's tail")
    parser.add_argument("--time-budget", type=float, default=float("inf"), help="skip steps that would start after this many s")
    parser.add_argument("--out", required=True, help="folder for serve.json and serve.png")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run in seconds (the test suite's form)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.shape, args.corpus, args.passage_tokens, args.max_batch = "cpu", "tiny", 300, 32, 4
        args.id_rates, args.text_rates, args.duration = [4, 16], [2, 4], 1.5
    if args.shape is None:
        args.shape = "4b" if torch.cuda.is_available() and args.device != "cpu" else "tiny"
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("resrank_eval.serve.access").setLevel(logging.WARNING)  # one line per request otherwise
    run(parse_args(argv))


if __name__ == "__main__":
    main()
