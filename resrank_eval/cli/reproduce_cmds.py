"""``reproduce`` (a conditions file: runs, the paper's table, pinned scores) and ``regress`` (the same, re-run and checked)."""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import click

from ..datasets.interchange import passage_store
from ..errors import ArgumentError, InputError, ResrankError
from ..reproduce.conditions import Grid
from ..reproduce.plan import Cell, Command
from .common import OVERWRITE, PLANNED, CliError, Writable, describe, flags_of, overwrite_option, resamples_option


def _names(ctx: click.Context, param: click.Parameter, text: str | None) -> list[str] | None:
    """The names of a comma-separated selection; given but naming none is refused (an empty shell variable would run all)."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise click.BadParameter(f"{text!r} names none; leave the option out for all")
    return names


@click.command("reproduce")
@click.argument("conditions_file")
@click.option("--conditions", callback=_names, default=None, help="Comma-separated conditions to run (the conditions they read run too).  [default: all]")
@click.option("--datasets", callback=_names, default=None, help="Comma-separated datasets to run them on.  [default: all]")
@click.option("--output", type=Writable(folder=True), default=None, help="Leaderboard folder.  [default: the file's output]")
@click.option("--dry-run", is_flag=True, help="Print the resrank-eval commands that make every cell; run nothing.")
@click.option("--check", is_flag=True, help="Compare every pinned score with the runs; exit 1 if one is off by more than the tolerance.")
@click.option("--pin", is_flag=True, help="Rewrite the file's expected: block with the scores of the runs (regenerates every pin).")
@click.option("--measure", default=None, help="Measure of the table.  [default: the file's, else nDCG@10]")
@click.option("--baseline", default=None, help="Condition the significance tests compare with.  [default: the file's]")
@resamples_option
@overwrite_option
def reproduce(conditions_file: str, conditions: list[str] | None, datasets: list[str] | None, output: str | None, dry_run: bool, check: bool,
              pin: bool, measure: str | None, baseline: str | None, n_resamples: int) -> None:
    """Run the grid conditions x datasets of CONDITIONS_FILE (a path, or a bundled file: offline, paper) and print its table.

    Each cell is the resrank-eval commands --dry-run prints, run in this process: runs made exactly so and unchanged
    since are kept, one made otherwise is refused (--overwrite redoes it), and an interrupted rerank resumes; runs land
    in OUTPUT/<dataset>/run.<dataset>.<condition>.txt, the table in OUTPUT/table.{md,tex,csv}, OUTPUT/index.html and
    OUTPUT/tradeoff.{png,pdf}.
    """
    failed = run_conditions(conditions_file, conditions, datasets, output, dry_run, check, pin, measure, baseline,
                            n_resamples)
    if failed:
        raise click.ClickException(f"{failed} pinned score(s) differ from the runs")


def run_conditions(conditions_file: str, conditions: list[str] | None, datasets: list[str] | None, output: str | None, dry_run: bool,
                   check: bool, pin: bool, measure: str | None, baseline: str | None, n_resamples: int) -> int:
    """What both commands do, with this command's --overwrite; returns how many checks failed.

    Every cell's commands are parsed (options, kinds, ranges) and ``--baseline``, ``--resamples`` and ``--pin`` checked
    before the first runs.
    """
    from ..evaluate.metrics import parse_measure
    from ..report.significance import check_resamples
    from ..reproduce import bundled_file, load_grid
    from ..reproduce.grid import check as check_pins
    from ..reproduce.grid import check_baseline, check_pinnable, plan, run_grid, score, tested_cells, unpinned
    from ..reproduce.grid import pin as pin_scores

    if dry_run and (check or pin):
        raise ArgumentError(f"`dry_run` makes no runs, so there is nothing to `{'check' if check else 'pin'}`")
    if measure:
        parse_measure(measure)
    grid = load_grid(bundled_file(conditions_file))
    root = Path(output or grid.spec.output)
    cells = plan(grid, root, conditions, datasets)
    if check and len(unpinned(grid, cells)) == len(cells):  # a check of nothing would pass
        raise ResrankError(f"{grid.path}: no pinned score among the chosen cells to check; pin them first (resrank-eval reproduce "
                           f"{grid.path} --pin)")
    check_resamples(n_resamples, tested_cells(cells, check_baseline(grid, baseline)))
    if pin:
        check_pinnable(grid)
    overwrite = bool(click.get_current_context().meta.get(OVERWRITE, False))

    def line(command: Command) -> list[str]:
        return [*command.argv, *(["--overwrite"] if overwrite and not command.cached else [])]

    check_commands(grid, cells, line)
    if dry_run:
        for number, cell in enumerate(cells, 1):
            click.echo(f"# [{number}/{len(cells)}] {cell.condition.name} on {cell.dataset.name}")
            for command in cell.commands():
                click.echo(shlex.join(["resrank-eval", *line(command)]))
        return 0
    run_grid(cells, lambda command: run_command(line(command)), echo=lambda text: click.echo(text, err=True))
    report = score(grid, cells, baseline, n_resamples, measure)
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


def check_commands(grid: Grid, cells: list[Cell], line: Callable[[Command], list[str]]) -> None:
    """Parse every cell's command lines as their commands will (kinds, ranges, choices), inputs that earlier cells make
    counting as present; a mistake is an error at the condition's line of the file."""
    ctx = click.get_current_context()
    planned = {path.absolute() for cell in cells for command in cell.commands() for path in command.outputs}
    planned |= {passage_store(path) for path in planned}
    ctx.meta[PLANNED] = planned
    try:
        for cell in cells:
            for command in cell.commands():
                argv = line(command)
                parser = _command(argv[0])
                try:
                    parser.make_context(argv[0], argv[1:], parent=ctx).close()
                except (click.UsageError, ResrankError) as exc:
                    why = exc.format_message() if isinstance(exc, click.UsageError) else describe(exc, flags_of(parser, ctx))[0]
                    raise InputError(grid.path, grid.lines.get(cell.condition.name),
                                     f"condition {cell.condition.name!r} on {cell.dataset.name}: {why}") from None
    finally:
        del ctx.meta[PLANNED]


def run_command(argv: list[str]) -> str:
    """One command line, run in this process by its command (as if typed; what it prints goes to stderr, so stdout stays
    the table); its status: ``made`` or ``kept``."""
    command = _command(argv[0])
    with contextlib.redirect_stdout(sys.stderr):
        try:
            return command.main(argv[1:], prog_name=f"resrank-eval {argv[0]}", standalone_mode=False)
        except ResrankError as exc:  # its arguments named as the cell's command takes them (--top-k)
            raise CliError(describe(exc, flags_of(command, click.get_current_context()))[0]) from None


def _command(name: str) -> click.Command:
    root = click.get_current_context().find_root()
    command = root.command.get_command(root, name) if isinstance(root.command, click.Group) else None
    if command is None:
        raise InputError(name, None, "no such resrank-eval command")
    return command


@click.command("regress")
@click.argument("conditions_file", default="offline")
@click.option("--conditions", callback=_names, default=None, help="Comma-separated conditions to re-run (the conditions they read run too).  [default: all]")
@click.option("--datasets", callback=_names, default=None, help="Comma-separated datasets to run them on.  [default: all]")
@click.option("--output", type=Writable(folder=True), default="runs/regressions", show_default=True, help="Leaderboard folder.")
@resamples_option
def regress(conditions_file: str, conditions: list[str] | None, datasets: list[str] | None, output: str, n_resamples: int) -> None:
    """Re-run the pinned cells of CONDITIONS_FILE (default: offline) from scratch and check every pinned score:
    `reproduce CONDITIONS_FILE --check --overwrite --output runs/regressions`."""
    click.get_current_context().meta[OVERWRITE] = True
    failed = run_conditions(conditions_file, conditions, datasets, output, False, True, False, None, None, n_resamples)
    if failed:
        raise click.ClickException(f"{failed} regression check(s) failed")


COMMANDS = [reproduce, regress]
