"""The report: every run scored on its dataset, tested against the baseline run of the same dataset, and rendered.

One :class:`Report` is what ``resrank-eval report``, ``reproduce`` and the demo print and write: Markdown,
LaTeX (booktabs), CSV, a self-contained HTML page, or all of them and the trade-off plot in a folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from ..datasets.dataset import Dataset
from ..datasets.registry import get_dataset
from ..errors import ArgumentError, ResrankError
from ..evaluate.metrics import evaluate
from ..formats.atomic import atomic_write
from ..formats.tables import render
from ..jobs import check_apart
from ..types import EfficiencySummary
from ..version import __version__
from .html import page
from .plot import plot_tradeoff
from .runs import SystemRun, file_system_name
from .significance import ALPHA, N_RESAMPLES, Comparison, check_resamples, compare, correct
from .tables import Table, csv_frame, dataset_table, efficiency_table, paper_table, testable


@dataclass
class SystemResult:
    """One run on one dataset: mean and per-query scores, efficiency, and tests against the baseline."""

    label: str
    dataset: str
    run: SystemRun
    measures: list[str]
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    efficiency: EfficiencySummary | None
    significance: dict[str, Comparison] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """The evaluation's (:attr:`~resrank_eval.evaluate.metrics.Evaluation.warnings`): a partial run tests "worse" for the queries it misses."""


@dataclass
class Report:
    """Every run's scores, costs and tests against the baseline, and how they are shown.

    Two layouts. ``datasets`` (``resrank-eval report``, the demo): a table per dataset -- every standard
    measure with its significance markers, and the efficiency per query -- then, when the report spans
    several datasets, ``measure`` across them. ``paper`` (``resrank-eval reproduce``): the paper's table --
    ``measure`` per system and dataset, with the BEIR average -- then the efficiency block and the machine
    the timings come from. ``rows`` and ``columns`` choose and order the systems and datasets of the
    cross-dataset table (default: all, the ten benchmarks first), ``labels`` names the systems there and
    in the plot, and ``title`` heads the Markdown and HTML.
    """

    results: list[SystemResult]
    baseline: str | None
    alpha: float
    correction: str = "holm"
    layout: Literal["datasets", "paper"] = "datasets"
    title: str | None = None
    measure: str = "nDCG@10"
    rows: list[str] | None = None
    columns: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.results))

    def family_size(self, measure: str) -> int:
        """How many comparisons one measure's p-values were corrected over."""
        return sum(measure in r.significance for r in self.results)

    @property
    def systems(self) -> list[str]:
        """System labels, first seen first."""
        return list(dict.fromkeys(r.label for r in self.results))

    def for_dataset(self, dataset: str) -> list[SystemResult]:
        return [r for r in self.results if r.dataset == dataset]

    def find(self, label: str, dataset: str) -> SystemResult | None:
        return next((r for r in self.results if r.label == label and r.dataset == dataset), None)

    def tables(self) -> list[Table]:
        """The tables of the layout, in order."""
        if self.layout == "paper":
            cost = efficiency_table(self)
            return [paper_table(self), *([cost] if cost.rows else [])]
        return [dataset_table(self, d) for d in self.datasets] + ([paper_table(self)] if len(self.datasets) > 1 else [])

    def measured_on(self) -> list[str]:
        """The machines, library versions and commits the timings come from, one line each (naming the systems when several)."""
        seen: dict[str, list[str]] = {}
        for result in self.results:
            env = result.efficiency.environment if result.efficiency else None
            if env:
                line = (f"{env.get('device_name')} ({env.get('device')}, threads: {env.get('threads')}); "
                        f"Python {env.get('python')}, torch {env.get('torch')}, transformers {env.get('transformers')}, "
                        f"pyserini {env.get('pyserini')}, resrank-eval {env.get('resrank-eval')}, commit {env.get('commit') or 'unknown'}")
                seen.setdefault(line, []).append(result.label)
        return [f"{line}: {', '.join(dict.fromkeys(labels))}" if len(seen) > 1 else line for line, labels in seen.items()]

    def prompts(self) -> list[str]:
        """One line per generative system: the prompt protocol, version and answer budget its runs' summaries record."""
        seen: dict[str, list[str]] = {}
        for result in self.results:
            protocol = result.efficiency.protocol if result.efficiency else None
            if protocol:
                line = (f"--protocol {protocol['name']} ({protocol['version']}), answer budget {protocol['answer_tokens']} tokens"
                        + "".join(f", {key.replace('_', ' ')} {protocol[key]}" for key in ("thinking", "temperature", "context_size")
                                  if key in protocol))
                seen.setdefault(self.labels.get(result.label, result.label), []).append(line)
        return [f"{label}: {'; '.join(dict.fromkeys(lines))}" for label, lines in seen.items()]

    def to_markdown(self) -> str:
        """Tables with their captions in bold (the paper layout adds where the timings come from), under ``# title``;
        a footnote names the prompts of the generative systems."""
        lines = self.measured_on() if self.layout == "paper" else []
        measured = "Measured on " + ("; ".join(lines) if len(lines) == 1 else "\n\n".join(f"- {line}" for line in lines))
        prompts = self.prompts()
        return "\n\n".join([*([f"# {self.title}"] if self.title else []), *(render(t.frame, "markdown", t.caption) for t in self.tables()),
                            *([measured] if lines else []),
                            *(["Prompts: " + "\n\n".join(f"- {line}" for line in prompts)] if prompts else [])]) + "\n"

    def to_latex(self) -> str:
        """Each table as a booktabs ``table`` environment with its caption."""
        return "\n\n".join(render(t.frame, "latex", t.caption) for t in self.tables()) + "\n"

    def to_csv(self) -> str:
        """One row per (dataset, system): full-precision scores, deltas and p-values, and the efficiency summary."""
        return render(csv_frame(self), "csv") + "\n"

    def to_html(self, plot: Path | None = None) -> str:
        """A self-contained page of the tables, with ``plot`` (a PNG) embedded and where the timings come from."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return page(self.title or "resrank-eval report", f"resrank-eval {__version__}, {stamp}", self.tables(), plot,
                    [f"Measured on {line}" for line in self.measured_on()] + [f"Prompts of {line}" for line in self.prompts()])

    def save(self, folder: str | Path, name: str = "report") -> list[Path]:
        """``NAME.md``, ``NAME.tex``, ``NAME.csv``, ``tradeoff.png``, ``tradeoff.pdf`` and ``index.html`` in ``folder``; none
        may be a run file the report read (refused before any is written)."""
        folder = Path(folder)
        tables = {folder / f"{name}.{suffix}": text for suffix, text in (("md", self.to_markdown()), ("tex", self.to_latex()),
                                                                          ("csv", self.to_csv()))}
        plots, html = [folder / "tradeoff.png", folder / "tradeoff.pdf"], folder / "index.html"
        check_apart([r.run.path for r in self.results if r.run.path is not None], [*tables, *plots, html])
        for path, text in tables.items():
            with atomic_write(path) as handle:
                handle.write(text)
        plot_tradeoff(self, plots)
        with atomic_write(html) as handle:
            handle.write(self.to_html(plots[0]))
        return [*tables, *plots, html]


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


def build_report(runs: list[SystemRun], baseline: str | Path | None = None, alpha: float = ALPHA, n_resamples: int = N_RESAMPLES,
                 datasets: Mapping[str, Dataset] | None = None, correction: str = "holm") -> Report:
    """Evaluate each run with its dataset's standard measures; test each against ``baseline`` (label or run file).

    Runs come from files (:func:`~resrank_eval.report.runs.load_run_file`) or from memory
    (``SystemRun(None, "my-system", "dl19", run, result.summary())``). ``datasets`` resolves names the
    registry does not know (a BEIR directory); ``correction`` is ``holm`` (over every comparison of a
    measure in the report) or ``none``. ``n_resamples`` must let the randomization test reject at ``alpha`` over that
    family (:func:`~.significance.least_resamples`); too few are refused before any test runs.
    """
    if correction not in ("holm", "none"):
        raise ResrankError(f"unknown correction {correction!r}; use holm or none")
    if not 0 < alpha < 1:
        raise ArgumentError(f"`alpha` must be between 0 and 1, got {alpha!r}")
    results = []
    for run, label in zip(runs, unique_labels(runs)):
        dataset = (datasets or {}).get(run.dataset) or get_dataset(run.dataset)
        evaluation = evaluate(run.run, dataset.qrels(), dataset.measures, str(run.path or label))
        results.append(SystemResult(label, run.dataset, run, evaluation.measures, evaluation.mean, evaluation.per_query, run.efficiency,
                                    warnings=evaluation.warnings))
    if baseline is None:
        return Report(results, None, alpha)
    report = Report(results, _baseline_label(results, baseline), alpha, correction)
    tested = [(result, reference) for result in results if (reference := report.find(report.baseline, result.dataset)) is not None
              and reference is not result and testable(reference.per_query)]
    family = max(Counter(m for result, _ in tested for m in result.measures).values(), default=0)
    check_resamples(n_resamples, family if correction == "holm" else min(family, 1), alpha)
    for result, reference in tested:
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
