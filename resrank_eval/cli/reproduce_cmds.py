"""``reproduce`` (a conditions file: runs, the paper's table, pinned scores) and ``regress`` (the same, re-run and checked)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import Writable, overwrite_option


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@click.command("reproduce")
@click.argument("conditions_file")
@click.option("--conditions", default=None, help="Comma-separated conditions to run (the conditions they read run too).  [default: all]")
@click.option("--datasets", default=None, help="Comma-separated datasets to run them on.  [default: all]")
@click.option("--output", type=Writable(folder=True), default=None, help="Leaderboard folder.  [default: the file's output]")
@click.option("--dry-run", is_flag=True, help="Print the equivalent single resrank-eval commands; run nothing.")
@click.option("--check", is_flag=True, help="Compare every pinned score with the runs; exit 1 if one is off by more than the tolerance.")
@click.option("--pin", is_flag=True, help="Rewrite the file's expected: block with the scores of the runs (regenerates every pin).")
@click.option("--measure", default=None, help="Measure of the table.  [default: the file's, else nDCG@10]")
@click.option("--baseline", default=None, help="Condition the significance tests compare with.  [default: the file's]")
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True, help="Permutations of the randomization test.")
@overwrite_option
def reproduce(conditions_file: str, conditions: str | None, datasets: str | None, output: str | None, dry_run: bool, check: bool,
              pin: bool, measure: str | None, baseline: str | None, resamples: int, overwrite: bool) -> None:
    """Run the grid conditions x datasets of CONDITIONS_FILE (a path, or a bundled file: offline, paper) and print its table.

    Runs made exactly so (by their provenance) are kept, one made otherwise is refused (--overwrite redoes it), and an
    interrupted rerank resumes; runs land in OUTPUT/<dataset>/run.<dataset>.<condition>.txt, the table in
    OUTPUT/table.{md,tex,csv}, OUTPUT/index.html and OUTPUT/tradeoff.{png,pdf}.
    """
    failed = run_conditions(conditions_file, _names(conditions), _names(datasets), output, dry_run, check, pin, measure, baseline,
                            resamples, overwrite)
    if failed:
        raise click.ClickException(f"{failed} pinned score(s) differ from the runs")


def run_conditions(conditions_file: str, conditions: list[str] | None, datasets: list[str] | None, output: str | None, dry_run: bool,
                   check: bool, pin: bool, measure: str | None, baseline: str | None, resamples: int, overwrite: bool) -> int:
    """What both commands do; returns how many checks failed."""
    from ..evaluate.metrics import parse_measure
    from ..reproduce import bundled_file, load_grid
    from ..reproduce.grid import check as check_pins
    from ..reproduce.grid import pin as pin_scores
    from ..reproduce.grid import plan, run_grid, score, unpinned

    if measure:
        parse_measure(measure)
    grid = load_grid(bundled_file(conditions_file))
    root = Path(output or grid.spec.output)
    cells = plan(grid, root, conditions, datasets)
    run_grid(cells, overwrite, dry_run, echo=click.echo if dry_run else lambda line: click.echo(line, err=True))
    if dry_run:
        return 0
    report = score(grid, cells, baseline, resamples, measure)
    written = report.save(root, "table")
    click.echo(report.to_markdown(), nl=False)
    click.echo(f"wrote {', '.join(str(p) for p in written)}", err=True)
    failed = 0
    if check:
        checks = check_pins(grid, report, cells)
        for c in checks:
            got = "missing" if c.actual is None else f"{c.actual:.4f}"
            click.echo(f"{'OK' if c.ok else 'FAIL':<4} {c.condition:<28} {c.dataset:<16} {c.measure:<16} expected {c.expected:.4f} got {got} (±{c.tolerance})")
            failed += not c.ok
        for cell in unpinned(grid, cells):
            click.echo(f"--   {cell.condition.name:<28} {cell.dataset.name:<16} no pinned scores", err=True)
        click.echo(f"{len(checks) - failed} of {len(checks)} pinned scores reproduced")
    if pin:
        click.echo(f"pinned {pin_scores(grid, report, cells)} cells in {grid.path}", err=True)
    return failed


@click.command("regress")
@click.option("--file", "conditions_file", default="offline", show_default=True, help="Conditions file (path or bundled name).")
@click.option("--only", multiple=True, help="Re-run only these conditions (and what they read).")
@click.option("--datasets", default=None, help="Comma-separated datasets.  [default: all]")
@click.option("--runs-dir", type=Writable(folder=True), default="runs/regressions", show_default=True)
def regress(conditions_file: str, only: tuple[str, ...], datasets: str | None, runs_dir: str) -> None:
    """Re-run the pinned cells from scratch and check every pinned score: `reproduce FILE --check --overwrite`."""
    failed = run_conditions(conditions_file, list(only) or None, _names(datasets), runs_dir, False, True, False, None, None, 1000, True)
    if failed:
        raise click.ClickException(f"{failed} regression check(s) failed")


COMMANDS = [reproduce, regress]
