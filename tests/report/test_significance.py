"""Markers that say the direction, and Holm's correction over a table's comparisons."""

from __future__ import annotations

from pathlib import Path

import pytest

from resrank_eval.datasets.registry import get_dataset
from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.trec import write_run
from resrank_eval.report import SystemRun, build_report
from resrank_eval.report.significance import Comparison, compare, holm, least_resamples
from tests.helpers import DL19_CANDIDATES, assert_one_line_error, invoke


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


@pytest.mark.parametrize(("comparisons", "alpha", "least"), [(1, 0.05, 40), (4, 0.05, 160), (3, 0.01, 600), (1, 0.5, 4)])
def test_the_fewest_resamples_are_where_the_randomization_test_can_first_reject(comparisons: int, alpha: float, least: int) -> None:
    """The most extreme paired scores reach the smallest p-value the test has, 2/(R + 1); Holm multiplies it by the family."""
    system, baseline = [1.0 + q / 100 for q in range(43)], [0.0] * 43
    assert least_resamples(comparisons, alpha) == least
    for resamples, rejects in ((least - 1, False), (least, True)):
        smallest = compare(system, baseline, resamples).p_randomization
        assert smallest == pytest.approx(2 / (resamples + 1))
        assert (min(holm([smallest] * comparisons)) < alpha) is rejects


def test_too_few_resamples_are_refused_before_any_test_runs() -> None:
    """``n_resamples=1`` was accepted: the randomization p-value was 1 for every system and no ‡ could ever show."""
    bm25 = read_candidates(DL19_CANDIDATES).run
    runs = [SystemRun(None, "bm25", "dl19", bm25), SystemRun(None, "top", "dl19", {q: hits[:10] for q, hits in bm25.items()}),
            SystemRun(None, "rest", "dl19", {q: hits[10:] for q, hits in bm25.items()})]
    with pytest.raises(ResrankError, match=r"^n_resamples 79 is too few: the randomization test's p-value is at least 2/\(resamples \+ 1\) "
                                           r"times 2 comparisons \(Holm\), never below alpha 0\.05; use at least 80$"):
        build_report(runs, "bm25", n_resamples=79)
    with pytest.raises(ResrankError, match=r"^n_resamples 1 is too few: .*, never below alpha 0\.05; use at least 40$"):
        build_report(runs, "bm25", n_resamples=1, correction="none")
    assert build_report(runs, "bm25", n_resamples=80).find("top", "dl19").significance  # type: ignore[union-attr]
    assert build_report(runs, n_resamples=1).baseline is None  # nothing tested, nothing refused


def test_report_refuses_too_few_resamples_naming_its_flag(tmp_path: Path) -> None:
    run = tmp_path / "run.dl19.bm25.txt"
    write_run(run, read_candidates(DL19_CANDIDATES).run, "bm25")
    other = tmp_path / "run.dl19.other.txt"
    write_run(other, {q: hits[::-1] for q, hits in read_candidates(DL19_CANDIDATES).run.items()}, "other")
    result = invoke("report", str(run), str(other), "--baseline", "bm25", "--resamples", "1", "--output", str(tmp_path / "out"))
    assert_one_line_error(result, "Error: --resamples 1 is too few: the randomization test's p-value is at least 2/(resamples + 1), "
                                  "never below --alpha 0.05; use at least 40")
    assert not (tmp_path / "out").exists()
