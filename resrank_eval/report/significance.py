"""Paired significance tests over per-query scores, the two that IR papers report.

Student's paired t-test and a paired randomization (sign-flip permutation) test, both two-sided.
The randomization test makes no normality assumption, which per-query nDCG rarely satisfies;
it is seeded so a report is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

DAGGER = "†"  # paired t-test p < alpha
DOUBLE_DAGGER = "‡"  # randomization test p < alpha


@dataclass(frozen=True)
class Comparison:
    """A system against the baseline on one measure: mean difference and both p-values."""

    delta: float
    p_ttest: float
    p_randomization: float

    def markers(self, alpha: float) -> str:
        return (DAGGER if self.p_ttest < alpha else "") + (DOUBLE_DAGGER if self.p_randomization < alpha else "")


def compare(system: list[float], baseline: list[float], n_resamples: int = 10_000, seed: int = 0) -> Comparison:
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
    randomization = stats.permutation_test(
        (x, y),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return Comparison(delta, p_t, float(randomization.pvalue))
