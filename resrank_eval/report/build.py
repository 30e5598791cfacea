"""Score every run on its dataset and compare it to the baseline run of the same dataset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets.dataset import Dataset
from ..datasets.registry import get_dataset
from ..errors import ResrankError
from ..evaluate.metrics import evaluate
from .runs import SystemRun, file_system_name
from .significance import Comparison, compare, correct


@dataclass
class SystemResult:
    """One run on one dataset: mean and per-query scores, efficiency, and tests against the baseline."""

    label: str
    dataset: str
    run: SystemRun
    measures: list[str]
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    efficiency: dict[str, Any] | None
    significance: dict[str, Comparison] = field(default_factory=dict)


@dataclass
class Report:
    """Everything the tables, CSV and plot are rendered from."""

    results: list[SystemResult]
    baseline: str | None
    alpha: float
    correction: str = "holm"

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.results))

    def family_size(self, measure: str) -> int:
        """How many comparisons one measure's p-values were corrected over."""
        return sum(measure in r.significance for r in self.results)

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.results))

    def for_dataset(self, dataset: str) -> list[SystemResult]:
        return [r for r in self.results if r.dataset == dataset]

    def find(self, label: str, dataset: str) -> SystemResult | None:
        return next((r for r in self.results if r.label == label and r.dataset == dataset), None)


def unique_labels(runs: list[SystemRun]) -> list[str]:
    """Run tags; where tags clash within a dataset, the system part of the file names, then the paths.

    The file-name part leaves out the dataset, so ``run.dl19.x.txt`` and ``run.dl20.x.txt`` stay one
    system across datasets.
    """
    labels = [r.label for r in runs]
    for rename in (lambda r: file_system_name(r.path, r.dataset) if r.path else r.label, lambda r: str(r.path or r.label)):
        clashes = Counter(zip((r.dataset for r in runs), labels))
        labels = [rename(r) if clashes[r.dataset, label] > 1 else label for r, label in zip(runs, labels)]
    return labels


def build_report(runs: list[SystemRun], baseline: str | Path | None = None, alpha: float = 0.05, n_resamples: int = 10_000,
                 datasets: Mapping[str, Dataset] | None = None, correction: str = "holm") -> Report:
    """Evaluate each run with its dataset's standard measures; test each against ``baseline`` (label or run file).

    Runs come from files (:func:`~resrank_eval.report.runs.load_run_file`) or from memory
    (``SystemRun(None, "my-system", "dl19", run, result.summary())``). ``datasets`` resolves names the
    registry does not know (a BEIR directory); ``correction`` is ``holm`` (over every comparison of a
    measure in the report) or ``none``.
    """
    if correction not in ("holm", "none"):
        raise ResrankError(f"unknown correction {correction!r}; use holm or none")
    results = []
    for run, label in zip(runs, unique_labels(runs)):
        dataset = (datasets or {}).get(run.dataset) or get_dataset(run.dataset)
        evaluation = evaluate(run.run, dataset.qrels(), dataset.measures)
        results.append(SystemResult(label, run.dataset, run, evaluation.measures, evaluation.mean, evaluation.per_query, run.efficiency))
    if baseline is None:
        return Report(results, None, alpha)
    report = Report(results, _baseline_label(results, baseline), alpha, correction)
    for result in results:
        reference = report.find(report.baseline, result.dataset)
        if reference is not None and reference is not result:
            result.significance = _significance(result, reference, n_resamples)
    if correction == "holm":
        for measure in dict.fromkeys(m for r in results for m in r.significance):
            tested = [r for r in results if measure in r.significance]
            for r, corrected in zip(tested, correct([r.significance[measure] for r in tested])):
                r.significance[measure] = corrected
    return report


def _baseline_label(results: list[SystemResult], baseline: str | Path) -> str:
    """``baseline`` as a label, or the label of the run file it names."""
    for result in results:
        if result.label == str(baseline) or (result.run.path is not None and result.run.path.resolve() == Path(baseline).resolve()):
            return result.label
    labels = ", ".join(dict.fromkeys(r.label for r in results))
    raise ResrankError(f"baseline {str(baseline)!r} is neither a run given nor a system label: {labels}")


def _significance(system: SystemResult, baseline: SystemResult, n_resamples: int) -> dict[str, Comparison]:
    qids = sorted(baseline.per_query)
    return {
        m: compare([system.per_query[q][m] for q in qids], [baseline.per_query[q][m] for q in qids], n_resamples)
        for m in system.measures
    }
