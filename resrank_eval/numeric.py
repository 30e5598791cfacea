"""Score arithmetic that several layers share: the one min-max and the one tie-breaker.

A leaf (numpy only), so the model, retrieval, evaluation and the rerank pipeline all import it
without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest score trec_eval holds (as a 32-bit float): beyond it, infinite. Readers refuse larger magnitudes
(:func:`~resrank_eval.formats.ids.check_score`)."""


def minmax(values: Sequence[float]) -> list[float]:
    """Values scaled to [0, 1] within the list (1 = the highest); a list of equal values maps to all 1.

    The one normalisation of score interpolation, also what a ResRank model's ``score_fusion`` reads."""
    if not values:
        return []
    low, high = min(values), max(values)
    if not high > low:
        return [1.0] * len(values)
    half = 0.5 if math.isinf(high - low) else 1.0  # finite scores further apart than the largest float: halve, exactly
    return [(v * half - low * half) / (high * half - low * half) for v in values]


def trec_eval_scores(scores: Sequence[float]) -> list[float]:
    """The scores as trec_eval holds them, 32-bit floats (beyond their range, infinite): two it cannot tell apart tie."""
    with np.errstate(over="ignore"):
        return np.asarray(scores, dtype=np.float64).astype(np.float32).tolist()


def first_not_decreasing(scores: Sequence[float]) -> int | None:
    """Where ``scores`` first fail to strictly decrease, compared as trec_eval holds them (:func:`trec_eval_scores`: a tie
    there has no order); None when list order and trec_eval's score order are one ranking."""
    held = trec_eval_scores(scores)
    return next((j for j in range(1, len(held)) if held[j] >= held[j - 1]), None)


def strictly_decreasing(scores: list[float]) -> list[float]:
    """Nudge ties (and inversions) down one float32 step so rank order == score order (scores within :data:`FLOAT32_MAX`).

    trec_eval holds scores as 32-bit floats, so a smaller nudge would be a tie again there. Below the lowest of them is
    only -inf, which no run holds: a nudge there is a ``ValueError``.
    """
    out: list[float] = []
    for score in scores:
        if out and np.float32(score) >= np.float32(out[-1]):
            if np.float32(out[-1]) <= -FLOAT32_MAX:
                raise ValueError(f"no score lies below {out[-1]:g}, the lowest a 32-bit float holds (trec_eval's scores), "
                                 "to rank the next hit under it")
            score = float(np.nextafter(np.float32(out[-1]), np.float32(-np.inf)))
        out.append(score)
    return out
