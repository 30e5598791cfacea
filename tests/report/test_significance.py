"""Markers that say the direction, and Holm's correction over a table's comparisons."""

from __future__ import annotations

import pytest

from resrank_eval.datasets.registry import get_dataset
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.report import SystemRun, build_report
from resrank_eval.report.significance import Comparison, holm
from tests.helpers import DL19_CANDIDATES


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.02, 0.03, 0.5 times 4, 3, 2, 1 -> 0.04, 0.06, 0.06 (kept monotone), 0.5
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])  # capped, monotone
    assert holm([]) == []


def test_markers_carry_the_direction_and_use_the_adjusted_p() -> None:
    assert Comparison(0.1, 0.001, 0.01).markers(0.05) == "↑†‡"
    assert Comparison(-0.1, 0.001, 0.2).markers(0.05) == "↓†"
    assert Comparison(-0.1, 0.001, 0.01, p_ttest_adjusted=0.09, p_randomization_adjusted=0.03).markers(0.05) == "↓‡"
    assert Comparison(0.1, 0.2, 0.3).markers(0.05) == ""


def test_a_worse_system_is_marked_worse_in_every_format() -> None:
    bm25 = read_candidates(DL19_CANDIDATES).run
    qrels = get_dataset("dl19").qrels()
    worst = {q: sorted(hits, key=lambda c: qrels.get(q, {}).get(c.docid, 0)) for q, hits in bm25.items()}
    report = build_report([SystemRun(None, "bm25", "dl19", bm25), SystemRun(None, "worst", "dl19", worst)], "bm25", n_resamples=500)
    (table,) = report.tables()
    assert table.rows[1][1].endswith("↓†‡")
    assert "↑/↓ significantly better/worse than bm25" in table.caption and "Holm-corrected over 1 comparison per measure" in table.caption
    latex = report.to_latex()
    assert r"$^{\downarrow}$\textsuperscript{\dag}\textsuperscript{\ddag}" in latex
