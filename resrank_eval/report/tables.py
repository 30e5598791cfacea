"""The tables a :class:`~resrank_eval.report.build.Report` shows, built once as formatted cells.

Per dataset: every standard measure with its significance markers, and the efficiency per query.
Across datasets (the paper's table): one measure per system and dataset, with the BEIR average of the
BEIR sets present, named. The efficiency block: per reranked system and dataset, latency (end to end
and reranker only), throughput, tokens, forward passes and FLOPs per query, with device, dtype and
batch size. Markdown, LaTeX and HTML render the same cells, so they always show the same numbers. The
CSV frame is separate: full precision, p-values and mean differences instead of markers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from statistics import fmean
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..datasets.registry import BEIR_NAMES
from ..types import EfficiencySummary
from .significance import BETTER, DAGGER, DOUBLE_DAGGER, WORSE

if TYPE_CHECKING:
    from .build import Report, SystemResult

MISSING = "–"
CROSS_DATASETS = ("dl19", "dl20", *(f"beir/{n}" for n in BEIR_NAMES))
"""The column order of the cross-dataset table; other datasets follow."""
SHORT_NAMES = {
    "dl19": "DL19",
    "dl20": "DL20",
    "beir/trec-covid": "Covid",
    "beir/nfcorpus": "NFCorpus",
    "beir/webis-touche2020": "Touche",
    "beir/dbpedia-entity": "DBPedia",
    "beir/scifact": "SciFact",
    "beir/signal1m": "Signal",
    "beir/trec-news": "News",
    "beir/robust04": "Robust04",
}
EFFICIENCY_COLUMNS = ("p50 ms", "p95 ms", "q/s", "tokens/q", "gen tokens/q", "device")


EFFICIENCY_HEADERS = ["System", "Dataset", "p50 ms", "p95 ms", "rerank p50 ms", "q/s", "enc tok/q", "rr tok/q", "gen tok/q", "passes/q",
                      "GFLOPs/q", "q/PFLOP", "device", "dtype", "batch"]


@dataclass
class Table:
    """A heading, a caption, column headers and formatted cells; the first column is the system label."""

    heading: str
    caption: str
    columns: list[str]
    rows: list[list[str]]

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)


def number(value: float) -> str:
    """Three significant-ish digits without scientific notation: 57,312 / 48.1 / 3.42 / 0.018."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value:.3f}"


def efficiency_cells(e: EfficiencySummary | None) -> list[str]:
    """p50/p95 latency per query, throughput, tokens read (encoder + reranker) and generated, device."""
    if e is None:
        return [MISSING] * len(EFFICIENCY_COLUMNS)
    return [number(e.latency_ms_p50), number(e.latency_ms_p95), _maybe(e.queries_per_s),
            f"{e.encoder_tokens_per_query + e.reranker_input_tokens_per_query:,.0f}", f"{e.generated_tokens_per_query:,.0f}", e.device]


def _score(result: SystemResult | None, measure: str, alpha: float) -> str:
    if result is None or measure not in result.mean:
        return MISSING
    comparison = result.significance.get(measure)
    return f"{result.mean[measure]:.4f}" + (comparison.markers(alpha) if comparison else "")


def dataset_table(report: Report, dataset: str) -> Table:
    """Effectiveness (the dataset's standard measures) and efficiency, one row per run."""
    results = report.for_dataset(dataset)
    measures = results[0].measures
    rows = [[r.label, *(_score(r, m, report.alpha) for m in measures), *efficiency_cells(r.efficiency)] for r in results]
    why = untested(report).get(dataset)
    caption = f"no significance tests ({why})" if why else legend(report)
    return Table(dataset, f"{dataset}: {caption}", ["System", *measures, *EFFICIENCY_COLUMNS], rows)


def untested(report: Report) -> dict[str, str]:
    """Why a dataset's systems were not tested against the baseline (no baseline run, one judged query): no caption may
    say they were."""
    if report.baseline is None:
        return {}
    reasons = {}
    for dataset in report.datasets:
        reference = report.find(report.baseline, dataset)
        if reference is None:
            reasons[dataset] = f"no {report.labels.get(report.baseline, report.baseline)} run"
        elif not testable(reference.per_query):
            reasons[dataset] = f"{len(reference.per_query)} judged query"
    return reasons


def testable(per_query: dict[str, dict[str, float]]) -> bool:
    """A paired test needs two queries."""
    return len(per_query) >= 2


def legend(report: Report, measure: str | None = None, baseline: str | None = None) -> str:
    """What the markers mean: direction, which test, the correction and its family size, alpha, the baseline (``baseline``: its display name)."""
    if report.baseline is None:
        return "no significance tests"
    family = report.family_size(measure) if measure else max((report.family_size(m) for m in _measures(report)), default=0)
    correction = f", Holm-corrected over {family} comparison{'s' if family != 1 else ''}{' per measure' if measure is None else ''}" \
        if report.correction == "holm" else ""
    return (f"{BETTER}/{WORSE} significantly better/worse than {baseline or report.baseline} by the paired t-test ({DAGGER}) "
            f"and/or the paired randomization test ({DOUBLE_DAGGER}), p < {report.alpha}{correction}")


def _measures(report: Report) -> list[str]:
    return list(dict.fromkeys(m for r in report.results for m in r.measures))


def csv_frame(report: Report) -> pd.DataFrame:
    """One row per (dataset, run): every measure with delta and both p-values, and the efficiency summary's fields
    (but its query count: ``queries`` counts the judged queries)."""
    measures = _measures(report)
    efficiency_keys = [f.name for f in fields(EfficiencySummary) if f.name not in ("queries", "environment")]
    rows = []
    for r in report.results:
        row: dict[str, Any] = {"dataset": r.dataset, "system": r.label, "run_file": str(r.run.path or ""), "queries": len(r.per_query)}
        for m in measures:
            comparison = r.significance.get(m)
            row[m] = r.mean.get(m)
            row[f"{m} delta"] = comparison.delta if comparison else None
            row[f"{m} p_ttest"] = comparison.p_ttest if comparison else None
            row[f"{m} p_randomization"] = comparison.p_randomization if comparison else None
            row[f"{m} p_ttest_holm"] = comparison.p_ttest_adjusted if comparison else None
            row[f"{m} p_randomization_holm"] = comparison.p_randomization_adjusted if comparison else None
        rows.append(row | {k: getattr(r.efficiency, k, None) for k in efficiency_keys})
    return pd.DataFrame(rows, dtype=object)  # objects: an int stays 4, a missing value stays empty


def short_name(dataset: str) -> str:
    return SHORT_NAMES.get(dataset, dataset)


def paper_table(report: Report) -> Table:
    """The report's ``measure`` per system (its ``rows``, in order) and dataset (its ``columns``), plus the BEIR average of
    the BEIR sets present.

    Columns default to the report's datasets, the ten benchmarks first in their usual order.
    """
    measure, labels = report.measure, report.labels
    systems = report.rows or report.systems
    datasets = report.columns or sorted(report.datasets, key=lambda d: CROSS_DATASETS.index(d) if d in CROSS_DATASETS else len(CROSS_DATASETS))
    beir = [d for d in datasets if d.startswith("beir/") and d.removeprefix("beir/") in BEIR_NAMES]
    rows = []
    for system in systems:
        results = {d: report.find(system, d) for d in datasets}
        if not any(results.values()):
            continue
        cells = [labels.get(system, system)]
        cells += [_score(r, measure, report.alpha) for r in results.values()]
        if beir:
            scores = [results[d].mean[measure] for d in beir if results[d] and measure in results[d].mean]  # type: ignore[union-attr]
            cells.append(f"{fmean(scores):.4f}" if len(scores) == len(beir) else MISSING)
        rows.append(cells)
    columns = ["System", *map(short_name, datasets)]
    if beir:
        columns.append("BEIR avg" if len(beir) == len(BEIR_NAMES) else f"BEIR avg ({', '.join(map(short_name, beir))})")
    baseline = labels.get(report.baseline or "")
    skipped = untested(report)
    caveat = "".join(f"; {short_name(d)} not tested ({skipped[d]})" for d in datasets if d in skipped)
    return Table(f"{measure} by system and dataset", f"{measure} across datasets. {legend(report, measure, baseline)}{caveat}.", columns, rows)


def efficiency_table(report: Report) -> Table:
    """One row per reranked (system, dataset): what a query cost, in time, tokens, passes and FLOPs."""
    rows = []
    for system in report.rows or report.systems:
        for result in (r for r in report.results if r.label == system and r.efficiency is not None):
            e = result.efficiency
            rows.append([report.labels.get(system, system), short_name(result.dataset), number(e.latency_ms_p50), number(e.latency_ms_p95),
                         _maybe(e.rerank_ms_p50), _maybe(e.queries_per_s), f"{e.encoder_tokens_per_query:,.0f}",
                         f"{e.reranker_input_tokens_per_query:,.0f}", f"{e.generated_tokens_per_query:,.0f}", f"{e.forward_passes_per_query:g}",
                         _maybe(_giga(e.flops_per_query)), _maybe(e.queries_per_pflop), e.device, e.dtype, str(e.batch_size)])
    caption = ("Efficiency per query: latency end to end (encoding + reranking) and of the reranker alone, throughput, "
               "tokens read by the encoder and the reranker, tokens generated, reranker forward passes, FLOPs "
               "(all matrix multiplies, batch-independent) and queries per PetaFLOP.")
    return Table("Efficiency", caption, EFFICIENCY_HEADERS, rows)


def _giga(value: float | None) -> float | None:
    return None if value is None else value / 1e9


def _maybe(value: float | None) -> str:
    return MISSING if value is None else number(value)

