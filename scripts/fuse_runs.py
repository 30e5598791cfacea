"""Fuse two TREC runs: reciprocal-rank fusion or min-max score interpolation (the rerankers' baselines).

A stop-gap until `resrank-eval fuse` exists (issue 12): the ResRank-mini recipe compares its reader
with these fusions of BM25 and its own encoder, on the same top-k.

    python scripts/fuse_runs.py rrf BM25_RUN ENCODER_RUN --output OUT [--k 60] [--depth 100]
    python scripts/fuse_runs.py interpolate BM25_RUN ENCODER_RUN --weight 0.2 --output OUT

``interpolate``: per query, each run's scores over its top ``depth`` scaled to [0, 1], then
``weight * first + (1 - weight) * second``; a passage missing from one run gets 0 there.
Below the fused top ``depth`` the first run's remaining hits follow in their order, as a rerank of
the top ``depth`` leaves them, so R@1000 stays the first stage's.
"""

from __future__ import annotations

import argparse

from resrank_eval.formats.trec import read_run, write_run
from resrank_eval.types import Candidate, Run


def rrf(first: list[Candidate], second: list[Candidate], k: float) -> dict[str, float]:
    scores: dict[str, float] = {}
    for hits in (first, second):
        for rank, hit in enumerate(hits, 1):
            scores[hit.docid] = scores.get(hit.docid, 0.0) + 1.0 / (k + rank)
    return scores


def interpolate(first: list[Candidate], second: list[Candidate], weight: float) -> dict[str, float]:
    scores: dict[str, float] = {}
    for hits, w in ((first, weight), (second, 1.0 - weight)):
        if not hits:
            continue
        low, high = min(h.score for h in hits), max(h.score for h in hits)
        for hit in hits:
            scaled = (hit.score - low) / (high - low) if high > low else 1.0
            scores[hit.docid] = scores.get(hit.docid, 0.0) + w * scaled
    return scores


def fuse(first: Run, second: Run, method: str, depth: int, k: float, weight: float) -> Run:
    fused: Run = {}
    for qid in sorted(set(first) | set(second)):
        a, b = first.get(qid, [])[:depth], second.get(qid, [])[:depth]
        scores = rrf(a, b, k) if method == "rrf" else interpolate(a, b, weight)
        head = [Candidate(d, s) for d, s in sorted(scores.items(), key=lambda item: (-item[1], item[0]))]
        floor = min((c.score for c in head), default=0.0)
        tail = [c.docid for c in first.get(qid, [])[depth:] if c.docid not in scores]
        fused[qid] = head + [Candidate(d, floor - 1.0 - i) for i, d in enumerate(tail)]
    return fused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=("rrf", "interpolate"))
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--output", required=True)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--k", type=float, default=60.0)
    parser.add_argument("--weight", type=float, default=0.5, help="weight of the first run (interpolate)")
    parser.add_argument("--run-tag", default=None)
    args = parser.parse_args()
    tag = args.run_tag or (f"rrf{args.k:g}" if args.method == "rrf" else f"interp{args.weight:g}")
    fused = fuse(read_run(args.first), read_run(args.second), args.method, args.depth, args.k, args.weight)
    write_run(args.output, fused, tag)


if __name__ == "__main__":
    main()
