"""ResRank-mini on this CPU: the model's scoring path vs the plain reference over the DL19 BM25 top-100 (43 queries).

Passage vectors are encoded once (the model's dtype) and cached on disk, as a dense index would hold
them; what is timed is the scoring call per batch of queries (prompt, query vector, reranker forward,
scores), the part ``resrank-eval rerank`` reports as rerank_ms. Variants are interleaved within each
repeat, so a load change on a shared machine hits all of them; the best of the repeats is reported, in
wall-clock time and in process CPU time (with one thread, CPU time is the work done and barely moves
with other processes' load), with the load average. ``reference`` is the plain computation the
equivalence tests hold the path to (``tests/reference.py``: whole prompts, one masked forward; what the
eager engine was); ``path`` the model's one scoring path as users get it (pre-tokenized prompts, prefix KV
reuse, length-sorted rows; no buckets on a CPU). In the first dtype it also times the path without prefix
reuse and with length buckets (the padding CUDA graphs need); with ``--compile``, under torch.compile;
with ``--dtypes float32,bfloat16``, both in each dtype. Also checks that every variant's scores equal
the reference's and rank identically.

    python scripts/bench_engine_cpu.py --dtypes float32,bfloat16 --batch-sizes 1,4 --repeats 5 [--threads 1] [--encode 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from resrank_eval.datasets.registry import get_dataset
from resrank_eval.demo import DEMO_MODEL
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.corpus import load_passages
from resrank_eval.formats.trec import read_run
from resrank_eval.model import ResRankModel, Scoring
from resrank_eval.paths import cache_dir, data_dir
from resrank_eval.provenance import fingerprint
from resrank_eval.types import Query

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.reference import reference  # noqa: E402 - the test suite's plain computation, from the checkout


@dataclass
class Workload:
    """Queries with their first-stage top-100 (docids in order, and their scores) and a passage-text lookup."""

    name: str
    queries: list[Query]
    docids: list[list[str]]
    scores: list[torch.Tensor]
    passages: Callable[[set[str]], dict[str, str]]


def dl19() -> Workload:
    data = read_candidates(data_dir() / "candidates" / "dl19-bm25-top100.json.gz")
    return Workload("dl19", [data.topics[q] for q in data.run], [[c.docid for c in data.run[q]] for q in data.run],
                    [torch.tensor([c.score for c in data.run[q]]) for q in data.run], lambda ids: {d: data.passages[d] for d in ids})


def nfcorpus() -> Workload:
    dataset = get_dataset("beir/nfcorpus")
    topics, run = dataset.topics(), read_run(REPO / "runs" / "nfcorpus" / "run.beir-nfcorpus.bm25-flat.test.txt.gz")
    return Workload("nfcorpus", [topics[q] for q in run], [[c.docid for c in run[q][:100]] for q in run],
                    [torch.tensor([c.score for c in run[q][:100]]) for q in run], lambda ids: load_passages(dataset.corpus_dir, ids))


def passage_vectors(model: ResRankModel, model_dir: Path, workload: Workload) -> list[torch.Tensor]:
    """[100, D] per query, every passage encoded once per model and dtype (cached on disk, like a dense index)."""
    docids = sorted({d for ids in workload.docids for d in ids})
    dtype = str(model.dtype).removeprefix("torch.")
    path = cache_dir() / "bench-engine" / f"{workload.name}.{fingerprint(model_dir).removeprefix('sha256:')[:16]}.{dtype}.pt"
    if path.is_file():
        stored = torch.load(path)
    else:
        texts = workload.passages(set(docids))
        started = time.perf_counter()
        with torch.inference_mode():
            vectors = model.encode([texts[d] for d in docids]).cpu()
        seconds = time.perf_counter() - started
        print(f"{workload.name}: encoded {len(docids)} passages in {seconds:.1f} s ({len(docids) / seconds:.1f}/s, {dtype})")
        stored = {"docids": docids, "vectors": vectors, "passages_per_s": len(docids) / seconds}
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(stored, path)
    row = {d: i for i, d in enumerate(stored["docids"])}
    return [stored["vectors"][[row[d] for d in ids]] for ids in workload.docids]


def scorer(model: ResRankModel, scoring: Scoring | None) -> Callable[..., object]:
    """The reference (``scoring`` None), or the model's path run with ``scoring`` (its caches kept between calls)."""
    if scoring is None:
        return lambda *args: reference(model, *args)

    def run(*args: object) -> object:
        model.scoring = scoring
        return model(*args)
    return run


def time_pass(score: Callable[..., object], queries: list[str], vectors: list[torch.Tensor], first_stage: list[torch.Tensor],
              batch: int) -> tuple[float, float, list[torch.Tensor]]:
    """Wall and process-CPU seconds for all queries in batches, and the scores."""
    scores = []
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for i in range(0, len(queries), batch):
            out = score(queries[i:i + batch], vectors[i:i + batch], first_stage[i:i + batch])
            scores.extend(out.scores[j, :len(v)] for j, v in enumerate(vectors[i:i + batch]))
    return time.perf_counter() - wall, time.process_time() - cpu, scores


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEMO_MODEL))
    parser.add_argument("--dtypes", type=lambda s: s.split(","), default=["float32"], help="e.g. float32,bfloat16")
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", default=None, metavar="MODE", help="also time the path under torch.compile")
    parser.add_argument("--encode", type=int, default=0, metavar="N", help="also time online encoding of N DL19 passages per dtype")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    workload = dl19()
    texts = [q.text for q in workload.queries]
    variants: dict[tuple[str, str], Callable[..., object]] = {}
    vectors: dict[str, list[torch.Tensor]] = {}
    encoders: dict[str, object] = {}
    passages = list(workload.passages({d for ids in workload.docids for d in ids}).values())[:args.encode]
    for dtype in args.dtypes:
        model = ResRankModel.from_pretrained(args.model, "cpu", dtype)
        encoders[dtype] = model.encoder
        vectors[dtype] = passage_vectors(model, Path(args.model), workload)
        variants.update({(dtype, "reference"): scorer(model, None), (dtype, "path"): scorer(model, Scoring())})
        if dtype == args.dtypes[0]:  # the path's mechanisms, timed in the first dtype
            variants.update({(dtype, "path, no prefix reuse"): scorer(model, Scoring(prefix=False)),
                            (dtype, "path, length buckets"): scorer(model, Scoring(buckets=True))})
        if args.compile:
            variants[dtype, f"path + compile({args.compile})"] = scorer(model, Scoring(compile=args.compile, buckets=True))
    load = [os.getloadavg()[0]]
    times: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    scores: dict[tuple[str, str, int], list[torch.Tensor]] = {}
    for batch in args.batch_sizes:
        for (dtype, name), score in variants.items():
            wall, _, scores[dtype, name, batch] = time_pass(score, texts, vectors[dtype], workload.scores, batch)  # warm-up: compiles, prefix
            print(f"warm-up {dtype} {name} batch {batch}: {wall:.1f} s")
    for _ in range(args.repeats):
        for batch in args.batch_sizes:
            for (dtype, name), score in variants.items():
                times.setdefault((dtype, name, batch), []).append(time_pass(score, texts, vectors[dtype], workload.scores, batch)[:2])
        for dtype, encoder in encoders.items() if passages else ():
            wall, cpu = time.perf_counter(), time.process_time()
            with torch.inference_mode():
                encoder.encode(passages)  # type: ignore[attr-defined]
            times.setdefault((dtype, "encode", 0), []).append((time.perf_counter() - wall, time.process_time() - cpu))
        load.append(os.getloadavg()[0])
    print(f"\nResRank-mini, {len(texts)} DL19 queries x 100, {args.threads} threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {args.repeats} repeats, load average {min(load):.2f}-{max(load):.2f}; "
          "best of the repeats, wall clock and process CPU time")
    rows = []
    for batch in args.batch_sizes:
        base = min(times[args.dtypes[0], "reference", batch])
        for dtype, name in variants:
            wall, cpu = (min(t[i] for t in times[dtype, name, batch]) for i in (0, 1))
            plain = [min(t[i] for t in times[dtype, "reference", batch]) for i in (0, 1)]
            ref = scores[dtype, "reference", batch]
            diff = max((a - b).abs().max().item() for a, b in zip(scores[dtype, name, batch], ref))
            same = sum(torch.equal(torch.argsort(a, descending=True), torch.argsort(b, descending=True))
                       for a, b in zip(scores[dtype, name, batch], ref))
            row = {"dtype": dtype, "variant": name, "batch": batch, "wall_ms_per_query": 1000 * wall / len(texts),
                   "cpu_ms_per_query": 1000 * cpu / len(texts), "wall_speedup_vs_reference": plain[0] / wall,
                   "cpu_speedup_vs_reference": plain[1] / cpu, f"wall_speedup_vs_{args.dtypes[0]}_reference": base[0] / wall,
                   "max_abs_diff_vs_reference": diff, "identical_rankings": same}
            rows.append(row)
            print(f"  {dtype:<9} {name:<24} batch {batch}: wall {row['wall_ms_per_query']:7.2f} ms/query "
                  f"(x{row['wall_speedup_vs_reference']:.2f} vs reference), CPU {row['cpu_ms_per_query']:7.2f} ms/query "
                  f"(x{row['cpu_speedup_vs_reference']:.2f}), max |diff| {diff:.1e}, identical rankings {same}/{len(texts)}")
    for dtype in encoders if passages else ():
        wall, cpu = (min(t[i] for t in times[dtype, "encode", 0]) for i in (0, 1))
        rows.append({"dtype": dtype, "variant": "encode", "passages": len(passages), "passages_per_s": len(passages) / wall,
                     "cpu_ms_per_passage": 1000 * cpu / len(passages)})
        print(f"  {dtype:<9} online encoding of {len(passages)} DL19 passages: {len(passages) / wall:6.1f} passages/s, "
              f"CPU {1000 * cpu / len(passages):.1f} ms/passage")
    result = {"threads": args.threads, "queries": len(texts), "repeats": args.repeats, "load_average": [min(load), max(load)],
              "torch": torch.__version__, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
