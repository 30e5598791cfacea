"""``evaluate``: scoring runs without ever touching Pyserini or torch."""

from __future__ import annotations

from pathlib import Path

import click

from .common import Writable, echo_warning, split_option


@click.command("evaluate")
@click.option("--dataset", required=True, help="Benchmark whose qrels and standard measures to use.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--qrels", type=click.Path(exists=True, dir_okay=False), default=None, help="Qrels file overriding the dataset's.")
@click.option("--corpus", type=click.Path(file_okay=False), default=None, help="BEIR dir for datasets not in the registry.")
@split_option
@click.option("--measure", "-m", "measures", multiple=True, help="Measure(s) instead of the standard set, e.g. -m nDCG@10 -m 'R(rel=2)@100'.")
@click.option("--per-query", is_flag=True, help="Also print every query's scores (qid 'all' = mean).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table", show_default=True,
              help="How the table is printed (or written to --output).")
@click.option("--output", type=Writable(), default=None, help="Write the table here instead of stdout.")
def evaluate_cmd(dataset: str, runs: tuple[str, ...], qrels: str | None, corpus: str | None, split: str, measures: tuple[str, ...],
                 per_query: bool, fmt: str, output: str | None) -> None:
    """Score TREC runs with pytrec_eval (trec_eval -c semantics)."""
    from ..datasets.registry import get_dataset
    from ..evaluate.metrics import evaluate
    from ..evaluate.tables import mean_frame, per_query_frame
    from ..formats.atomic import atomic_write
    from ..formats.tables import render
    from ..formats.trec import read_run
    from ..jobs import check_apart, check_made
    from .resolve import resolve_qrels

    ds = get_dataset(dataset, corpus, split)
    check_apart([*runs, *([qrels] if qrels else []), *ds.read_from], [output] if output else [])
    judgments = resolve_qrels(ds, qrels)
    results = {}
    for path in runs:
        check_made(Path(path))
        results[path] = evaluate(read_run(path), judgments, list(measures) or list(ds.measures), path)
        for warning in results[path].warnings:
            echo_warning(warning)
    text = render(per_query_frame(results) if per_query else mean_frame(results), fmt)
    if output:
        with atomic_write(output) as handle:
            handle.write(text + "\n")
    else:
        click.echo(text)


COMMANDS = [evaluate_cmd]
