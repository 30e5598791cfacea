"""Fusion of first-stage runs: reciprocal-rank fusion and per-query min-max score interpolation.

A fused run is a first stage like BM25 or dense retrieval, and the baseline every reranker should be
shown next to: on DL19, BM25 interpolated with an encoder's cosine scores beats the encoder alone.
Both methods read each run's top ``depth`` per query; a document missing from a run contributes
nothing from it. Fused lists are in trec_eval's order (score descending, ties by docid descending).
:func:`fuse_step` is ``resrank-eval fuse``: run files in, a run file out, a step of the job layer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ArgumentError, ResrankError, check_count
from ..formats.trec import LEADERBOARD_HITS, canonical_order, read_run, write_run
from ..jobs import Outputs, Step
from ..numeric import FLOAT32_MAX, minmax
from ..provenance import Provenance
from ..types import Candidate, Run

log = logging.getLogger(__name__)

FUSION_METHODS = ("rrf", "interpolate")
RRF_K = 60.0
"""Cormack et al.'s constant: ranks beyond the first few count alike."""


def rrf_scores(hits: Sequence[Candidate], weight: float, k: float) -> dict[str, float]:
    """``weight / (k + rank)`` per document, ranks from 1."""
    return {c.docid: weight / (k + rank) for rank, c in enumerate(hits, 1)}


def minmax_scores(hits: Sequence[Candidate], weight: float) -> dict[str, float]:
    """Scores scaled to [0, 1] within the list (:func:`minmax`), times ``weight``."""
    return {c.docid: weight * level for c, level in zip(hits, minmax([c.score for c in hits]))}


def fuse(runs: Iterable[Run], method: str = "rrf", weights: Sequence[float] | None = None, k: float | None = None,
         depth: int | None = LEADERBOARD_HITS, hits: int | None = LEADERBOARD_HITS) -> Run:
    """Fuse ``runs`` query by query; queries come in first-seen order across the runs.

    ``weights`` (one per run, default all 1 for RRF and equal shares summing to 1 for interpolation)
    scale each run's contribution; ``k`` is RRF's constant (default :data:`RRF_K`; interpolation reads none, so
    it refuses one); ``depth`` is how many hits per query each run contributes and ``hits`` how many the fused list keeps
    (default: a leaderboard's, :data:`~resrank_eval.formats.trec.LEADERBOARD_HITS`; the union of two lists can be longer).
    """
    runs = list(runs)
    check_fusion(method, weights, len(runs), k)
    if weights is None:
        weights = [1.0] * len(runs) if method == "rrf" else [1.0 / len(runs)] * len(runs)
    constant = rrf_k(method, k)
    check_count(depth, "depth", none_ok=True)
    check_count(hits, "hits", none_ok=True)
    fused: Run = {}
    for qid in dict.fromkeys(q for run in runs for q in run):
        scores: dict[str, float] = {}
        for run, weight in zip(runs, weights):
            top = run.get(qid, [])[:depth]
            part = minmax_scores(top, weight) if constant is None else rrf_scores(top, weight, constant)
            for docid, score in part.items():
                scores[docid] = scores.get(docid, 0.0) + score
        fused[qid] = canonical_order(Candidate(d, s) for d, s in scores.items())[:hits]
    return fused


def fuse_step(runs: Sequence[str | Path], output: str | Path, method: str = "rrf", weights: Sequence[float] | None = None,
              k: float | None = None, depth: int = LEADERBOARD_HITS, hits: int = LEADERBOARD_HITS,
              run_tag: str | None = None) -> Step[Run]:
    """:func:`fuse` of the run files ``runs`` written to ``output`` (run tag: ``run_tag``, else :func:`fusion_name`).

    Its provenance: the runs by content and the settings, weights as numbers (``1`` is ``1.0``) and ``k`` only for RRF
    (given or not), so equal fusions compare equal however they were written. Runs over different query sets are fused
    (a query missing from a run gets nothing from it), with a warning that counts them.
    """
    parsed = [float(w) for w in weights] if weights is not None else None
    check_fusion(method, parsed, len(runs), k)
    constant = rrf_k(method, k)
    tag = run_tag or fusion_name(method, parsed, constant)
    arguments = {"method": method, "weights": parsed, "k": constant, "depth": depth, "hits": hits, "run_tag": tag}
    provenance = Provenance.of("fuse", arguments, {f"run {i}": path for i, path in enumerate(runs, 1)})

    def make() -> Run:
        read = [read_run(r) for r in runs]
        everywhere = set.intersection(*(set(run) for run in read))
        if any(set(run) != everywhere for run in read):
            counts = ", ".join(f"{Path(path).name}: {len(run)}" for path, run in zip(runs, read))
            log.warning("fusing runs over different query sets (%s; %d queries in all of them)", counts, len(everywhere))
        fused = fuse(read, method, parsed, constant, depth, hits)
        write_run(output, fused, tag)
        return fused

    return Step(provenance, Outputs.beside(output), make)


def check_fusion(method: str, weights: Sequence[float] | None, runs: int, k: float | None = None) -> None:
    """Two or more ``runs`` (a count); a known ``method``; one positive weight per run (a zero or negative weight would
    silently drop or invert a run), their sum within float32 (trec_eval's scores); ``k`` only for RRF, which reads it, and
    there finite and positive (an infinite one scores every document 0). The one check of a fusion, which a conditions file
    passes too."""
    if runs < 2:
        raise ResrankError(f"fusion needs at least two runs, got {runs}")
    if method not in FUSION_METHODS:
        raise ResrankError(f"unknown fusion method {method!r}; choose one of {', '.join(FUSION_METHODS)}")
    if k is not None and method != "rrf":
        raise ArgumentError(f"`k` does not apply to {method} (it is for `method` rrf)")
    if k is not None and not (math.isfinite(k) and k > 0):
        raise ArgumentError(f"`k` must be a positive number, got {k:g}")
    if weights is None:
        return
    if len(weights) != runs:
        raise ResrankError(f"fusion: {len(weights)} weights for {runs} runs")
    if not (all(w > 0 for w in weights) and sum(weights) <= FLOAT32_MAX):
        raise ArgumentError(f"`weights` must be positive numbers (summing to at most {FLOAT32_MAX:.3g}), "
                           f"got {', '.join(f'{w:g}' for w in weights)}")


def rrf_k(method: str, k: float | None) -> float | None:
    """The constant a fusion by ``method`` reads: ``k``, else :data:`RRF_K`, for RRF; None for interpolation, which reads none."""
    if method != "rrf":
        return None
    return RRF_K if k is None else float(k)


def fusion_name(method: str, weights: Sequence[float] | None, k: float | None) -> str:
    """A default run tag: ``rrf-k60`` or ``interpolate-0.1-0.9`` (``k`` as :func:`rrf_k` gives it)."""
    if method == "rrf":
        return f"rrf-k{k:g}"
    return "interpolate" + "".join(f"-{w:g}" for w in weights or ())
