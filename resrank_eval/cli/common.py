"""What every command shares: one-line errors with exit code 2, and Pyserini-style options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import ResrankError
from ..rerank.base import Option
from ..rerank.registry import DEVICE, DTYPE


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


def _click_args(option: Option, used_by: list[str] | None = None) -> tuple[list[str], dict[str, Any]]:
    """A reranker :class:`Option` in Click's terms; the default stays None (= not given) and is shown in the help."""
    notes = [f"[default: {option.default}]"] if option.default is not None else []
    notes += [f"[{', '.join(used_by)}]"] if used_by else []
    attrs: dict[str, Any] = {"default": None, "help": "  ".join([option.help, *notes])}
    if option.kind is bool:
        return [f"{option.flag}/--no-{option.flag[2:]}"], attrs
    return [option.flag], {**attrs, "type": click.Choice(option.kind) if isinstance(option.kind, tuple) else option.kind}


def option_parameter(option: Option, used_by: list[str] | None = None) -> click.Option:
    decls, attrs = _click_args(option, used_by)
    return click.Option(decls, **attrs)


def option_decorator(option: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    decls, attrs = _click_args(option)
    return click.option(*decls, **attrs)


device_option = option_decorator(DEVICE)
dtype_option = option_decorator(DTYPE)


def refuse_existing(output: str | Path, overwrite: bool) -> bool:
    """Pyserini's convention: an existing output is kept (and said so) unless --overwrite."""
    if Path(output).exists() and not overwrite:
        click.echo(f"{output} exists; skipping (pass --overwrite to replace it)", err=True)
        return True
    return False
