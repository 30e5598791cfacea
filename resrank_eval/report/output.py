"""A whole report in one format, and the files ``resrank-eval report --output DIR`` writes."""

from __future__ import annotations

from pathlib import Path

from ..formats.atomic import atomic_write
from .build import Report
from .plot import plot_tradeoff
from .tables import cross_table, dataset_table, to_csv, to_latex, to_markdown

FORMATS = ("markdown", "latex", "csv")


def render(report: Report, fmt: str = "markdown") -> str:
    """Every per-dataset table, then the cross-dataset table (markdown/latex); or the CSV."""
    if fmt == "csv":
        return to_csv(report)
    renderer = {"markdown": to_markdown, "latex": to_latex}[fmt]
    tables = [dataset_table(report, d) for d in report.datasets] + [cross_table(report)]
    return "\n".join(renderer(t) for t in tables)


def write_report(report: Report, folder: Path) -> list[Path]:
    """``report.md``, ``report.tex``, ``report.csv``, ``tradeoff.png`` and ``tradeoff.pdf`` in ``folder``."""
    written = []
    for fmt, name in zip(FORMATS, ("report.md", "report.tex", "report.csv")):
        with atomic_write(folder / name) as handle:
            handle.write(render(report, fmt))
        written.append(folder / name)
    return written + plot_tradeoff(report, [folder / "tradeoff.png", folder / "tradeoff.pdf"])
