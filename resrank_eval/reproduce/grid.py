"""Running a grid: every cell's commands run (kept while made exactly so, reranks resume after a kill), then scored and checked.

``regress`` and ``reproduce --check`` are this one mechanism: the expected scores live in the
conditions file, ``--check`` compares each pinned measure to the fresh run within the file's
tolerance, and ``--pin`` rewrites the file's trailing ``expected:`` block from the runs (the
one command that regenerates every pinned number, e.g. after the bundled model changes).
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ArgumentError, ResrankError
from ..evaluate.metrics import evaluate
from ..formats.atomic import atomic_write, check_writable
from ..formats.trec import read_run
from ..jobs import KEPT, MADE, Outcome
from ..report.build import Report, build_report
from ..report.runs import SystemRun, read_efficiency
from ..report.significance import N_RESAMPLES
from .conditions import Grid
from .plan import Cell, Command

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    condition: str
    dataset: str
    measure: str
    expected: float
    actual: float | None
    tolerance: float

    @property
    def ok(self) -> bool:
        """Within ``tolerance`` of the pin at the 4 decimals ``--pin`` writes it in (and the table prints)."""
        return self.actual is not None and round(abs(self.actual - self.expected), 4) <= self.tolerance


def plan(grid: Grid, root: Path, conditions: list[str] | None = None, datasets: list[str] | None = None) -> list[Cell]:
    """The cells to make, in dependency order."""
    return [Cell(grid, condition, dataset, root) for condition, dataset in grid.cells(conditions, datasets)]


def run_grid(cells: list[Cell], run: Callable[[Command], str], echo: Callable[[str], None] = log.info) -> list[Outcome[Path]]:
    """Run every cell's commands with ``run`` (the CLI's: each command line through its own command, which keeps, refuses,
    resumes or makes its outputs, see :mod:`..jobs`); ``run`` returns the command's status (``made``, ``kept``). Each
    cell's outcome: ``made`` (a command made something) or ``kept``, with its run's path."""
    outcomes = []
    for number, cell in enumerate(cells, 1):
        where = f"[{number}/{len(cells)}] {cell.condition.name} on {cell.dataset.name}"
        started = time.perf_counter()
        made = False
        for command in cell.commands():
            log.debug("%s", shlex.join(["resrank-eval", *command.argv]))
            made |= run(command) != KEPT
        seconds = time.perf_counter() - started
        if made:
            echo(f"{where}: {seconds:.1f} s -> {cell.run_path}")
        else:
            echo(f"{where}: done, kept (made with these arguments and inputs, unchanged since: {cell.run_path})")
        outcomes.append(Outcome(MADE if made else KEPT, cell.run_path))
    return outcomes


def score(grid: Grid, cells: list[Cell], baseline: str | None = None, n_resamples: int = N_RESAMPLES,
          measure: str | None = None) -> Report:
    """Evaluate every finished cell (its label the condition name) and test it against the baseline condition.

    The report is laid out as the paper's table of ``measure`` (default: the file's): the file's title, its
    conditions as rows and datasets as columns in the file's order, each condition under its label.
    """
    runs = [SystemRun(cell.run_path, cell.condition.name, cell.dataset.name, read_run(cell.run_path), read_efficiency(cell.run_path))
            for cell in cells if cell.run_path.exists()]
    if not runs:
        raise ResrankError("no runs to score: run the grid first (without `dry_run`)")
    chosen = check_baseline(grid, baseline)
    if chosen is not None and chosen not in {r.label for r in runs}:
        log.warning("the baseline %r has no run among the chosen cells: the table has no significance tests", chosen)
        chosen = None
    measure = measure or grid.spec.measure  # scored even where it is not one of a dataset's standard measures
    datasets = {name: replace(d, measures=tuple(dict.fromkeys([*d.measures, measure]))) for name, d in grid.datasets.items()}
    report = build_report(runs, chosen, n_resamples=n_resamples, datasets=datasets)
    return replace(report, layout="paper", title=grid.spec.title or grid.path.stem, measure=measure,
                   rows=[c for c in grid.conditions if c in report.systems], columns=[d for d in grid.datasets if d in report.datasets],
                   labels={c.name: c.label for c in grid.conditions.values() if c.label})


def tested_cells(cells: list[Cell], baseline: str | None) -> int:
    """How many of ``cells`` :func:`score` tests against the ``baseline`` condition (those on a dataset it has a cell of):
    the family each measure's p-values are corrected over."""
    covered = {cell.dataset.name for cell in cells if cell.condition.name == baseline}
    return sum(cell.condition.name != baseline and cell.dataset.name in covered for cell in cells)


def check_baseline(grid: Grid, baseline: str | None) -> str | None:
    """The condition significance is tested against (``baseline``, else the file's); an unknown name is an error."""
    chosen = baseline if baseline is not None else grid.spec.baseline
    if chosen is not None and chosen not in grid.conditions:
        raise ArgumentError(f"`baseline` {chosen!r} is not a condition of {grid.path}; known: {', '.join(grid.conditions)}")
    return chosen


def check(grid: Grid, report: Report, cells: list[Cell]) -> list[Check]:
    """Every pinned score of the chosen cells against the report; a cell without a run checks as missing."""
    checks = []
    for cell in cells:
        pinned = grid.spec.expected.get(cell.condition.name, {}).get(cell.dataset.name, {})
        if not pinned:
            continue
        result = report.find(cell.condition.name, cell.dataset.name)
        # pinned measures may go beyond the dataset's standard set: scored here
        scores = {} if result is None else evaluate(result.run.run, cell.dataset.qrels(), list(pinned)).mean
        checks.extend(Check(cell.condition.name, cell.dataset.name, m, v, scores.get(m), grid.spec.tolerance) for m, v in pinned.items())
    return checks


def unpinned(grid: Grid, cells: list[Cell]) -> list[Cell]:
    return [c for c in cells if not grid.spec.expected.get(c.condition.name, {}).get(c.dataset.name)]


def check_pinnable(grid: Grid) -> None:
    """``--pin`` can rewrite the file (checked before the grid runs): it is writable and ``expected:`` is its last block."""
    check_writable(grid.path)
    _expected_block(grid)


def _expected_block(grid: Grid) -> tuple[list[str], int]:
    """The file's lines and where its trailing ``expected:`` block starts."""
    lines = grid.path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("expected:")), len(lines))
    after = [line for line in lines[start + 1:] if line.strip() and not line[0].isspace() and not line.startswith("#")]
    if after:
        raise ResrankError(f"{grid.path}: `expected:` must be the file's last block to be rewritten (found {after[0].strip()!r} after it)")
    return lines, start


def pin(grid: Grid, report: Report, cells: list[Cell]) -> int:
    """Rewrite the file's trailing ``expected:`` block with the chosen cells' scores (others kept): the standard measures and
    any other a cell had pinned; returns how many cells were pinned."""
    expected = {c: dict(d) for c, d in grid.spec.expected.items()}
    count = 0
    for cell in cells:
        result = report.find(cell.condition.name, cell.dataset.name)
        if result is not None:
            extra = [m for m in expected.get(cell.condition.name, {}).get(cell.dataset.name, {}) if m not in result.mean]
            scores = result.mean | (evaluate(result.run.run, cell.dataset.qrels(), extra).mean if extra else {})  # pinned by hand
            expected.setdefault(cell.condition.name, {})[cell.dataset.name] = {m: round(v, 4) for m, v in scores.items()}
            count += 1
    lines, start = _expected_block(grid)
    head = "".join(lines[:start]).rstrip("\n") + "\n\n" if start else ""
    order = [c for c in grid.conditions if c in expected]
    block = ["expected:  # pinned by `resrank-eval reproduce FILE --pin`; checked by --check and `regress`\n"]
    for condition in order:
        block.append(f"  {condition}:\n")
        for dataset in [d for d in grid.datasets if d in expected[condition]]:
            scores = ", ".join(f'"{m}": {v:.4f}' for m, v in expected[condition][dataset].items())
            block.append(f"    {dataset}: {{{scores}}}\n")
    with atomic_write(grid.path) as handle:
        handle.write(head + "".join(block))
    return count
