"""A whole report in one format, and the files ``resrank-eval report --output DIR`` writes."""

from __future__ import annotations

from pathlib import Path

from ..formats.atomic import atomic_write
from ..formats.tables import render
from .build import Report
from .plot import plot_tradeoff
from .tables import cross_table, csv_frame, dataset_table

FORMATS = ("markdown", "latex", "csv")


def render_report(report: Report, fmt: str = "markdown") -> str:
    """Every per-dataset table, then the cross-dataset table (markdown/latex); or the CSV."""
    if fmt == "csv":
        return render(csv_frame(report), "csv") + "\n"
    tables = [dataset_table(report, d) for d in report.datasets] + [cross_table(report)]
    return "\n\n".join(render(t.frame, fmt, t.caption) for t in tables) + "\n"


def write_report(report: Report, folder: Path) -> list[Path]:
    """``report.md``, ``report.tex``, ``report.csv``, ``tradeoff.png`` and ``tradeoff.pdf`` in ``folder``."""
    written = []
    for fmt, name in zip(FORMATS, ("report.md", "report.tex", "report.csv")):
        with atomic_write(folder / name) as handle:
            handle.write(render_report(report, fmt))
        written.append(folder / name)
    return written + plot_tradeoff(report, [folder / "tradeoff.png", folder / "tradeoff.pdf"])
