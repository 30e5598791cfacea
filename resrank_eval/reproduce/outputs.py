"""What a grid leaves beside its runs: the paper's table in Markdown, LaTeX (booktabs), CSV and HTML, and the plot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..formats.atomic import atomic_write
from ..formats.tables import render
from ..report.build import Report
from ..report.html import page, table_html
from ..report.paper import context, efficiency_table, paper_table, prompt_protocols
from ..report.plot import plot_tradeoff
from ..report.tables import csv_frame
from .conditions import Grid

FILES = ("table.md", "table.tex", "table.csv", "index.html", "tradeoff.png", "tradeoff.pdf")


def write_outputs(grid: Grid, report: Report, root: Path, measure: str | None = None) -> tuple[str, list[Path]]:
    """Write :data:`FILES` into ``root``; return the Markdown (what ``reproduce`` prints) and the paths."""
    measure = measure or grid.spec.measure
    systems = [c for c in grid.conditions if c in report.labels]
    datasets = [d for d in grid.datasets if d in report.datasets]
    labels = {c.name: c.label for c in grid.conditions.values() if c.label}
    main = paper_table(report, measure, systems, datasets, labels)
    cost = efficiency_table(report, systems, labels)
    lines = context(report)
    prompts = prompt_protocols(report, labels)
    title = grid.spec.title or grid.path.stem
    markdown = "\n\n".join([f"# {title}", render(main.frame, "markdown", main.caption),
                            *([render(cost.frame, "markdown", cost.caption)] if cost.rows else []),
                            *([_measured_on(lines)] if lines else []),
                            *(["Prompts: " + "\n\n".join(f"- {line}" for line in prompts)] if prompts else [])]) + "\n"
    latex = "\n\n".join([render(main.frame, "latex", main.caption), *([render(cost.frame, "latex", cost.caption)] if cost.rows else [])]) + "\n"
    written = []
    for name, text in (("table.md", markdown), ("table.tex", latex), ("table.csv", render(csv_frame(report), "csv") + "\n")):
        with atomic_write(root / name) as handle:
            handle.write(text)
        written.append(root / name)
    written += plot_tradeoff(report, [root / "tradeoff.png", root / "tradeoff.pdf"], measure, labels)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [(f"{measure} by system and dataset", table_html(main))]
    if cost.rows:
        sections.append(("Efficiency", table_html(cost)))
    notes = [f"Measured on {line}" for line in lines] + [f"Prompts of {line}" for line in prompts] + [f"Conditions file: {grid.path.name}; runs in {root}"]
    with atomic_write(root / "index.html") as handle:
        handle.write(page(title, f"resrank-eval reproduce, {stamp}", sections, root / "tradeoff.png", notes))
    written.append(root / "index.html")
    return markdown, written


def _measured_on(lines: list[str]) -> str:
    return "Measured on " + ("; ".join(lines) if len(lines) == 1 else "\n\n".join(f"- {line}" for line in lines))
