"""``report`` (publication tables, significance, trade-off plot) and ``validate`` (TREC submission checks)."""

from __future__ import annotations

from pathlib import Path

import click

from ..formats.trec import LEADERBOARD_HITS
from .common import POSITIVE, Writable, echo_warning, resamples_option


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--dataset", default=None, help="Dataset of every run given (default: recognised in each file name).")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False), default=None,
              help="BEIR dir whose qrels score every run (a dataset not in the registry; needs --dataset).")
@click.option("--split", default="test", show_default=True, help="Qrels split of --corpus.")
@click.option("--baseline", default=None, help="Run file or system label (run tag) to test every other run against.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True, help="Significance level for the table markers.")
@resamples_option
@click.option("--format", "fmt", type=click.Choice(["markdown", "latex", "csv", "html"]), default="markdown", show_default=True,
              help="Table printed on stdout (--output writes every format).")
@click.option("--output", type=Writable(folder=True), default=None,
              help="Also write report.md/.tex/.csv, index.html and tradeoff.png/.pdf into this folder.")
def report(runs: tuple[str, ...], dataset: str | None, corpus: str | None, split: str, baseline: str | None, alpha: float,
           n_resamples: int, fmt: str, output: str | None) -> None:
    """Effectiveness + efficiency tables per dataset and across datasets, from run files or runs folders.

    Efficiency comes from the <run>.stats.jsonl (or <run>.summary.json) that `rerank` writes next to each run.
    """
    from ..datasets.registry import get_dataset
    from ..report import build_report, expand_paths, load_run_file

    if corpus is not None and dataset is None:
        raise click.UsageError("--corpus needs --dataset (the name its runs are reported under)")

    files = expand_paths(list(runs))
    if baseline is not None and Path(baseline).is_file() and all(f.resolve() != Path(baseline).resolve() for f in files):
        files.insert(0, Path(baseline))
    loaded = [load_run_file(f, dataset) for f in files]
    local = {dataset: get_dataset(dataset, corpus, split)} if corpus is not None else None
    result = build_report(loaded, baseline, alpha, n_resamples, local)
    for warning in (w for r in result.results for w in r.warnings):
        echo_warning(warning)
    click.echo(getattr(result, f"to_{fmt}")(), nl=False)
    if output:
        for path in result.save(output):
            click.echo(f"wrote {path}", err=True)


@click.command("validate")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--dataset", default=None, help="Also require every qid to be a topic of this dataset.")
@click.option("--max-hits", type=POSITIVE, default=LEADERBOARD_HITS, show_default=True, help="Most documents allowed per query.")
@click.option("--format", "fmt", type=click.Choice(["auto", "trec", "msmarco", "request"]), default="auto", show_default=True,
              help="TREC run, MS MARCO TSV run (qid, docid, rank), or rank_llm Request/Result JSONL (also RankGPT JSON); auto: by name and content.")
def validate(run: str, dataset: str | None, max_hits: int, fmt: str) -> None:
    """Check a run as leaderboard submission rules do; name the first offending line and exit 2 if it breaks one."""
    from ..datasets.registry import get_dataset
    from ..report.validate import validate_file

    qids = set(get_dataset(dataset).topics()) if dataset else None
    found, summary = validate_file(run, fmt, max_hits, qids)
    tag = f", tag {summary.tag}" if found == "trec" else ""
    click.echo(f"OK: {run}: {found}, {summary.queries} queries, {summary.lines} {'lines' if found != 'request' else 'candidates'}{tag}")


COMMANDS = [report, validate]
