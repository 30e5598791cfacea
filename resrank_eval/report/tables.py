"""The report's tables -- per dataset, and across the ten benchmarks -- and its CSV frame.

Tables are built once as formatted cells and rendered by :func:`resrank_eval.formats.tables.render`,
so Markdown and LaTeX always show the same numbers. The CSV frame is separate: full precision,
p-values and mean differences instead of markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any

import pandas as pd

from ..datasets.registry import BEIR_NAMES
from .build import Report, SystemResult
from .significance import DAGGER, DOUBLE_DAGGER

MISSING = "–"
CROSS_DATASETS = ("dl19", "dl20", *(f"beir/{n}" for n in BEIR_NAMES))
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


@dataclass
class Table:
    """A caption, column headers and formatted cells; the first column is the system label."""

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


def efficiency_cells(efficiency: dict[str, Any] | None) -> list[str]:
    """p50/p95 latency per query, throughput, tokens read (encoder + reranker) and generated, device."""
    if not efficiency or not efficiency.get("queries"):
        return [MISSING] * len(EFFICIENCY_COLUMNS)
    tokens = efficiency["encoder_tokens_per_query"] + efficiency["reranker_input_tokens_per_query"]
    return [
        number(efficiency["latency_ms_p50"]),
        number(efficiency["latency_ms_p95"]),
        number(efficiency["queries_per_s"]) if efficiency.get("queries_per_s") is not None else MISSING,
        f"{tokens:,.0f}",
        f"{efficiency['generated_tokens_per_query']:,.0f}",
        str(efficiency["device"]),
    ]


def _score(result: SystemResult, measure: str, alpha: float) -> str:
    comparison = result.significance.get(measure)
    return f"{result.mean[measure]:.4f}" + (comparison.markers(alpha) if comparison else "")


def dataset_table(report: Report, dataset: str) -> Table:
    """Effectiveness (the dataset's standard measures) and efficiency, one row per run."""
    results = report.for_dataset(dataset)
    measures = results[0].measures
    rows = [[r.label, *(_score(r, m, report.alpha) for m in measures), *efficiency_cells(r.efficiency)] for r in results]
    return Table(f"{dataset}: {_legend(report)}", ["System", *measures, *EFFICIENCY_COLUMNS], rows)


def cross_table(report: Report, measure: str = "nDCG@10") -> Table:
    """``measure`` on DL19, DL20 and the eight BEIR sets, plus the BEIR average (only when all eight exist)."""
    rows = []
    for label in report.labels:
        cells, beir = [label], []
        for dataset in CROSS_DATASETS:
            result = report.find(label, dataset)
            cells.append(_score(result, measure, report.alpha) if result else MISSING)
            if result and dataset.startswith("beir/"):
                beir.append(result.mean[measure])
        cells.append(f"{fmean(beir):.4f}" if len(beir) == len(BEIR_NAMES) else MISSING)
        rows.append(cells)
    columns = ["System", *(SHORT_NAMES[d] for d in CROSS_DATASETS), "BEIR avg"]
    return Table(f"{measure} across datasets: {_legend(report)}", columns, rows)


def _legend(report: Report) -> str:
    if report.baseline is None:
        return "no significance tests"
    return (
        f"{DAGGER} paired t-test, {DOUBLE_DAGGER} paired randomization test, p < {report.alpha} "
        f"against {report.baseline}"
    )


def csv_frame(report: Report) -> pd.DataFrame:
    """One row per (dataset, run): every measure with delta and both p-values, and the efficiency summary."""
    measures = list(dict.fromkeys(m for r in report.results for m in r.measures))
    efficiency_keys = ("latency_ms_p50", "latency_ms_p95", "queries_per_s", "encoder_tokens_per_query",
                       "reranker_input_tokens_per_query", "generated_tokens_per_query", "device", "dtype", "batch_size")
    rows = []
    for r in report.results:
        row: dict[str, Any] = {"dataset": r.dataset, "system": r.label, "run_file": str(r.run.path or ""), "queries": len(r.per_query)}
        for m in measures:
            comparison = r.significance.get(m)
            row[m] = r.mean.get(m)
            row[f"{m} delta"] = comparison.delta if comparison else None
            row[f"{m} p_ttest"] = comparison.p_ttest if comparison else None
            row[f"{m} p_randomization"] = comparison.p_randomization if comparison else None
        rows.append(row | {k: (r.efficiency or {}).get(k) for k in efficiency_keys})
    return pd.DataFrame(rows, dtype=object)  # objects: an int stays 4, a missing value stays empty
