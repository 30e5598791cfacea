"""What every command shares: one-line errors with exit code 2, and Pyserini-style options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import ResrankError


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into ``Error: <file>:<line>: <what>`` and exit status 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ResrankError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def echo_warning(message: str) -> None:
    click.echo(click.style(f"Warning: {message}", fg="yellow"), err=True)


dataset_option = click.option(
    "--dataset", required=True, help="Benchmark name (see `resrank-eval datasets`), or any name with --corpus."
)
corpus_option = click.option(
    "--corpus", type=click.Path(file_okay=False), default=None, help="Local BEIR-format directory (corpus.jsonl[.gz], queries, qrels/)."
)
split_option = click.option("--split", default="test", show_default=True, help="Qrels split of a BEIR directory.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output instead of skipping.")
threads_option = click.option("--threads", type=int, default=2, show_default=True, help="Worker threads.")


def refuse_existing(output: str | Path, overwrite: bool) -> bool:
    """Pyserini's convention: an existing output is kept (and said so) unless --overwrite."""
    if Path(output).exists() and not overwrite:
        click.echo(f"{output} exists; skipping (pass --overwrite to replace it)", err=True)
        return True
    return False
