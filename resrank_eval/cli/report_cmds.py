"""``report`` (publication tables, significance, trade-off plot) and ``validate`` (TREC submission checks)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import handle_errors


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--dataset", default=None, help="Dataset of every run given (default: recognised in each file name).")
@click.option("--baseline", default=None, help="Run file or system label (run tag) to test every other run against.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance level for the table markers.")
@click.option("--resamples", type=int, default=10_000, show_default=True, help="Permutations of the randomization test.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv"]), default="markdown", show_default=True)
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Also write report.md/.tex/.csv and tradeoff.png/.pdf into this folder.")
@handle_errors
def report(runs: tuple[str, ...], dataset: str | None, baseline: str | None, alpha: float, resamples: int, fmt: str,
           output: str | None) -> None:
    """Effectiveness + efficiency tables per dataset and across datasets, from run files or runs folders.

    Efficiency comes from the <run>.stats.jsonl (or <run>.summary.json) that `rerank` writes next to each run.
    """
    from ..report import build_report, expand_paths, load_run_file, render_report, write_report

    files = expand_paths(list(runs))
    if baseline is not None and Path(baseline).is_file() and all(f.resolve() != Path(baseline).resolve() for f in files):
        files.insert(0, Path(baseline))
    loaded = [load_run_file(f, dataset) for f in files]
    result = build_report(loaded, baseline, alpha, resamples)
    click.echo(render_report(result, fmt), nl=False)
    if output:
        for path in write_report(result, Path(output)):
            click.echo(f"wrote {path}", err=True)


@click.command("validate")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--dataset", default=None, help="Also require every qid to be a topic of this dataset.")
@click.option("--max-hits", type=int, default=1000, show_default=True, help="Most documents allowed per query.")
@handle_errors
def validate(run: str, dataset: str | None, max_hits: int) -> None:
    """Check a run as TREC submission rules do; name the first offending line and exit 2 if it breaks one."""
    from ..datasets.registry import get_dataset
    from ..report import validate_run

    qids = set(get_dataset(dataset).topics()) if dataset else None
    summary = validate_run(run, max_hits, qids)
    click.echo(f"OK: {run}: {summary.queries} queries, {summary.lines} lines, tag {summary.tag}")


COMMANDS = [report, validate]
