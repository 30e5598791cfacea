"""What bfloat16 does to ResRank-mini on this CPU: rankings (nDCG@10, top-10 overlap) and speed vs float32.

NFCorpus test (BM25 top-100, 323 queries) and DL19 (bundled BM25 top-100, 43 queries) are reranked
by ResRank-mini loaded in each dtype (encoder and reranker both; passages encoded in that dtype,
cached like a dense index), through the model's scoring path at batch 4. Reported per dataset and dtype:
nDCG@10, passages/s of encoding, ms/query of reranking; and bf16 against fp32: mean top-10 overlap,
queries whose top-10 changed, min cosine of the passage vectors, max |score difference|; plus bf16's
drift from the plain reference computation, and how many fp32 rankings equal the published runs (README).
This is the evidence behind the CPU default dtype (``loading.resolve_dtype``).

    python scripts/bench_bf16_cpu.py [--datasets nfcorpus,dl19] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import bench_engine_cpu  # a sibling script: run as a script, scripts/ is on sys.path
import torch

from resrank_eval.datasets.registry import get_dataset
from resrank_eval.demo import DEMO_MODEL
from resrank_eval.evaluate.metrics import evaluate
from resrank_eval.formats.trec import read_run
from resrank_eval.model import ResRankModel, Scoring
from resrank_eval.types import Candidate

DTYPES = ("float32", "bfloat16")
QRELS = {"nfcorpus": "beir/nfcorpus", "dl19": "dl19"}
PUBLISHED = {"nfcorpus": "nfcorpus/run.beir-nfcorpus.bm25-flat.resrank-resrank-mini.test.txt.gz",
             "dl19": "dl19/run.dl19.resrank-mini.txt"}  # fp32 runs (README), top-100 reranked first


def rerank(model: ResRankModel, workload: bench_engine_cpu.Workload, vectors: list[torch.Tensor], batch: int,
           scoring: Scoring | None) -> tuple[list[torch.Tensor], float]:
    """Scores per query and ms/query, through the path (``scoring``) or the reference (None)."""
    texts = [q.text for q in workload.queries]
    seconds, _, scores = bench_engine_cpu.time_pass(bench_engine_cpu.scorer(model, scoring), texts, vectors, workload.scores, batch)
    return [s.float() for s in scores], 1000 * seconds / len(texts)


def top10(scores: torch.Tensor) -> list[int]:
    return torch.argsort(scores, descending=True, stable=True)[:10].tolist()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEMO_MODEL))
    parser.add_argument("--datasets", type=lambda s: s.split(","), default=["nfcorpus", "dl19"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    workloads = {name: getattr(bench_engine_cpu, name)() for name in args.datasets}
    found: dict[str, dict[str, dict]] = {name: {} for name in workloads}
    for dtype in DTYPES:
        model = ResRankModel.from_pretrained(args.model, "cpu", dtype)
        for name, workload in workloads.items():
            vectors = bench_engine_cpu.passage_vectors(model, Path(args.model), workload)
            scores, ms = rerank(model, workload, vectors, args.batch_size, Scoring())
            run = {q.qid: [Candidate(d, float(s)) for d, s in sorted(zip(ids, sc.tolist()), key=lambda x: -x[1])]
                   for q, ids, sc in zip(workload.queries, workload.docids, scores)}
            ndcg = evaluate(run, get_dataset(QRELS[name]).qrels(), ["nDCG@10"]).mean["nDCG@10"]
            found[name][dtype] = {"ndcg@10": ndcg, "rerank_ms_per_query": ms, "vectors": vectors, "scores": scores}
            if dtype == "float32":
                published = read_run(bench_engine_cpu.REPO / "runs" / PUBLISHED[name])
                found[name][dtype]["same_top100_as_published_run"] = sum(
                    [c.docid for c in run[q][:100]] == [c.docid for c in published[q][:100]] for q in run)
            else:
                plain, _ = rerank(model, workload, vectors, args.batch_size, None)
                found[name][dtype]["path_vs_reference_max_abs_diff"] = max((a - b).abs().max().item() for a, b in zip(scores, plain))
            print(f"{name} {dtype}: nDCG@10 {ndcg:.4f}, rerank {ms:.1f} ms/query")
        del model
    report = {"threads": args.threads, "load_average": os.getloadavg()[0], "torch": torch.__version__, "datasets": {}}
    for name, per_dtype in found.items():
        ref, low = per_dtype["float32"], per_dtype["bfloat16"]
        overlap = [len(set(top10(a)) & set(top10(b))) / 10 for a, b in zip(ref["scores"], low["scores"])]
        cosine = min(torch.nn.functional.cosine_similarity(a, b.float(), dim=-1).min().item()
                     for a, b in zip(ref["vectors"], low["vectors"]))
        row = {"queries": len(overlap), "ndcg@10_fp32": ref["ndcg@10"], "ndcg@10_bf16": low["ndcg@10"],
               "rerank_ms_fp32": ref["rerank_ms_per_query"], "rerank_ms_bf16": low["rerank_ms_per_query"],
               "top10_overlap": sum(overlap) / len(overlap), "top10_changed": sum(o < 1 for o in overlap),
               "top10_order_changed": sum(top10(a) != top10(b) for a, b in zip(ref["scores"], low["scores"])),
               "min_vector_cosine": cosine,
               "fp32_same_top100_as_published_run": ref["same_top100_as_published_run"],
               "max_abs_score_diff": max((a - b).abs().max().item() for a, b in zip(ref["scores"], low["scores"])),
               "bf16_path_vs_reference_max_abs_diff": low["path_vs_reference_max_abs_diff"]}
        report["datasets"][name] = row  # type: ignore[index]
        print(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"{time.perf_counter() - started:.0f} s")
