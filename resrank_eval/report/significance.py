"""Paired significance tests over per-query scores, the two that IR papers report.

Student's paired t-test and a paired randomization (sign-flip permutation) test, both two-sided.
The randomization test makes no normality assumption, which per-query nDCG rarely satisfies;
it is seeded so a report is reproducible. A table tests many cells at once, so the p-values behind
its markers are Holm-corrected over the family of comparisons (see :func:`holm`), and the markers
say the direction: a system significantly *worse* than the baseline must not read as a win.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import ArgumentError, check_count

DAGGER = "†"  # paired t-test p < alpha
DOUBLE_DAGGER = "‡"  # randomization test p < alpha
BETTER = "↑"  # significantly above the baseline
WORSE = "↓"  # significantly below it
ALPHA = 0.05
"""The significance level of a report's markers unless one is chosen."""
N_RESAMPLES = 10_000
"""The randomization test's resamples unless chosen: enough for 250 Holm-corrected comparisons at :data:`ALPHA`
(:func:`least_resamples`)."""


@dataclass(frozen=True)
class Comparison:
    """A system against the baseline on one measure: mean difference, both p-values, and both after correction."""

    delta: float
    p_ttest: float
    p_randomization: float
    p_ttest_adjusted: float | None = None
    p_randomization_adjusted: float | None = None

    def markers(self, alpha: float) -> str:
        """``↑`` or ``↓`` (the direction) followed by ``†`` / ``‡`` (which tests reject at ``alpha``); empty when neither does."""
        tests = (DAGGER if _adjusted(self.p_ttest, self.p_ttest_adjusted) < alpha else "") + \
            (DOUBLE_DAGGER if _adjusted(self.p_randomization, self.p_randomization_adjusted) < alpha else "")
        if not tests:
            return ""
        return (BETTER if self.delta > 0 else WORSE) + tests


def _adjusted(raw: float, adjusted: float | None) -> float:
    return raw if adjusted is None else adjusted


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest of m p-values times (m - i + 1), kept monotone, capped at 1."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [1.0] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def correct(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The same comparisons with Holm-adjusted p-values, each test corrected over the whole family."""
    t = holm([c.p_ttest for c in comparisons])
    r = holm([c.p_randomization for c in comparisons])
    return [replace(c, p_ttest_adjusted=a, p_randomization_adjusted=b) for c, a, b in zip(comparisons, t, r)]


def least_resamples(comparisons: int, alpha: float = ALPHA) -> int:
    """The fewest resamples with which one of ``comparisons`` Holm-corrected randomization tests can reject at ``alpha``.

    The seeded test's two-sided p-value is at least 2 / (resamples + 1) (the observed signs count as one resample, and both
    tails count), and Holm multiplies the smallest p-value of the family by its size m: 2m / (R + 1) < alpha needs
    R >= floor(2m / alpha) (40 for one comparison at 0.05, 10,000 for 250).
    """
    return math.floor(2 * comparisons / alpha)


def check_resamples(n_resamples: int, comparisons: int, alpha: float = ALPHA) -> None:
    """Enough resamples for ``comparisons`` tests at ``alpha`` (:func:`least_resamples`): with fewer, the randomization test's
    marker can never show, and a table would read as "no significant difference" whatever the runs."""
    check_count(n_resamples, "n_resamples")
    least = least_resamples(comparisons, alpha)
    if n_resamples < least:
        family = f" times {comparisons} comparisons (Holm)" if comparisons > 1 else ""
        raise ArgumentError(f"`n_resamples` {n_resamples} is too few: the randomization test's p-value is at least 2/(resamples + 1)"
                            f"{family}, never below `alpha` {alpha:g}; use at least {least}")


def compare(system: list[float], baseline: list[float], n_resamples: int = N_RESAMPLES, seed: int = 0) -> Comparison:
    """Test paired scores (same queries, same order); identical score lists get p = 1."""
    import numpy as np
    from scipy import stats

    x, y = np.asarray(system, dtype=float), np.asarray(baseline, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"need two equally long lists of at least 2 paired scores, got {x.size} and {y.size}")
    delta = float(np.mean(x - y))
    if np.allclose(x, y, rtol=0.0, atol=1e-12):
        return Comparison(delta, 1.0, 1.0)
    p_t = float(stats.ttest_rel(x, y).pvalue)
    randomization = stats.permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis), permutation_type="samples",
                                           vectorized=True, n_resamples=n_resamples, alternative="two-sided", rng=np.random.default_rng(seed))
    return Comparison(delta, p_t, float(randomization.pvalue))
