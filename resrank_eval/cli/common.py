"""What every command shares: one-line errors with exit code 2, and Pyserini-style options."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import ResrankError, first_line
from ..formats.atomic import check_writable
from ..formats.trec import check_tag
from ..jobs import MADE, SHARD_DONE, ShardedStep, Step
from ..parallel import Job
from ..provenance import RECORD_NAME
from ..report.significance import N_RESAMPLES
from ..rerank.base import DEVICE, DTYPE, Option
from ..rerank.pipeline import TOP_K

T = TypeVar("T")


class CliError(click.ClickException):
    """How every error reaches the user: ``Error: <what>`` on one line of stderr, and an exit status."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe(exc: Exception, flags: Mapping[str, str]) -> tuple[str, int]:
    """The one-line message and exit status for an exception a command let through (2: bad input, 1: a bug).

    The library raises :class:`ResrankError` with ``file:line`` for every input it reads, the arguments it names (those at
    fault, those that remedy it) written here as the command's ``flags`` carry them (see :func:`flags_of`); the rest are
    what third-party code raises on a bad file or value (an ``OSError`` names its file).
    """
    if isinstance(exc, ResrankError):
        return exc.naming(lambda name: flags.get(name, name)), 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}", 2
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", 2
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})", 2
    if isinstance(exc, EOFError):
        return "a file ended too early (truncated?)", 2
    if isinstance(exc, (OSError, ValueError, zlib.error)) or type(exc).__name__ == "SafetensorError":
        return first_line(exc), 2
    return f"internal error, {type(exc).__name__}: {first_line(exc)} (--debug shows the traceback)", 1


def flags_of(command: click.Command, ctx: click.Context) -> dict[str, str]:
    """The flag that carries each of ``command``'s parameters, by the parameter's name: a command names a parameter as the
    library names the argument it becomes (``--resamples`` is ``n_resamples``), so a library error names the flag; also by
    the flag's own name (``--run``, whose value is ``run_path``), as a provenance names its inputs."""
    options = [(p.name, max(p.opts, key=len)) for p in command.get_params(ctx) if isinstance(p, click.Option) and p.name]
    return {**{flag.lstrip("-").replace("-", "_"): flag for _, flag in options}, **dict(options)}


def echo_warning(message: str) -> None:
    click.echo(click.style(f"Warning: {message}", fg="yellow"), err=True)


dataset_option = click.option(
    "--dataset", required=True, help="Benchmark name (see `resrank-eval datasets`), or any name with --corpus."
)
corpus_option = click.option(
    "--corpus", type=click.Path(file_okay=False), default=None, help="Local BEIR-format directory (corpus.jsonl[.gz], queries, qrels/)."
)
split_option = click.option("--split", default="test", show_default=True, help="Qrels split of a BEIR directory.")
OVERWRITE = "resrank_eval.overwrite"


def _remember_overwrite(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    ctx.meta[OVERWRITE] = value


overwrite_option = click.option("--overwrite", is_flag=True, expose_value=False, callback=_remember_overwrite,
                                help="Make the outputs again whatever lies there (else kept when made exactly so, refused when not).")
"""``--overwrite`` goes from the command line straight to :func:`run_step`, the one place a step runs."""


def checked_tag(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--run-tag`` checked as the command line is parsed, not when the run is written after the work."""
    try:
        return None if value is None else check_tag(value)
    except ResrankError as exc:
        raise click.BadParameter(str(exc)) from None


POSITIVE = click.IntRange(min=1)
"""Counts that must be at least 1 (--hits, --batch-size, --top-k, --threads, ...): checked when the command line is parsed."""

threads_option = click.option("--threads", type=POSITIVE, default=2, show_default=True, help="Worker threads.")
intra_op_threads_option = click.option("--threads", type=POSITIVE, default=None,
                                       help="torch's intra-op threads, recorded with the outputs: scores are byte-stable across "
                                            "processes with equal counts.  [default: torch's; 1 per process under torchrun]")

top_k_option = click.option("--top-k", type=POSITIVE, default=TOP_K, show_default=True,
                            help="Hits per query the reranker reorders (the first stage's first K); the rest follow in "
                                 "first-stage order.")
"""``rerank --top-k`` and ``demo --top-k``: one meaning (``bench-serve --top-k`` is passages per request, its own option)."""

resamples_option = click.option(
    "--resamples", "n_resamples", type=POSITIVE, default=N_RESAMPLES, show_default=True,
    help="Permutations of the randomization test: at least 2m/alpha for m runs tested per measure (Holm), else none can be "
         "significant (its p-value is at least 2/(resamples + 1)).")


PLANNED = "resrank_eval.planned"
"""Outputs a grid will make before the command that reads them runs (``reproduce`` checks every command first)."""


class Input(click.Path):
    """An input file or folder that exists (or that an earlier step of a grid being checked will make)."""

    def __init__(self, file_okay: bool = True, dir_okay: bool = True) -> None:
        super().__init__(exists=True, file_okay=file_okay, dir_okay=dir_okay)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if ctx is not None and Path(value).absolute() in ctx.meta.get(PLANNED, ()):
            return value
        return super().convert(value, param, ctx)


class Writable(click.Path):
    """An output file (or ``folder``) that can be written or created, checked when the command line is parsed."""

    def __init__(self, folder: bool = False) -> None:
        super().__init__(file_okay=not folder, dir_okay=folder)
        self.folder = folder

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        value = super().convert(value, param, ctx)
        try:
            check_writable(value, self.folder)
        except ResrankError as exc:
            self.fail(str(exc), param, ctx)
        return value


def shard_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--shard-id/--shard-num`` (Pyserini's names): one job of an array; ``resrank-eval merge`` joins them."""
    command = click.option("--shard-num", type=click.IntRange(min=1), default=None,
                           help="Split the work into this many shards, one job each (under torchrun: the ranks).")(command)
    return click.option("--shard-id", type=click.IntRange(min=0), default=None,
                        help="This job's shard, 0 .. --shard-num - 1; then `resrank-eval merge`.")(command)


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


def option_decorator(option: Option, **extra: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    decls, attrs = _click_args(option)
    return click.option(*decls, **attrs, **extra)


def _check_device(ctx: click.Context, param: click.Parameter, device: str | None) -> str | None:
    """An unknown device, or one this machine lacks (cuda, mps), is refused as the command line is parsed: before a folder is
    made or a model loads (torch is imported only when the option is given)."""
    if device is not None:
        from ..model.loading import resolve_device

        resolve_device(device)  # its error reads as the reranker factory's, which checks rerank's --device
    return device


device_option = option_decorator(DEVICE, callback=_check_device)
dtype_option = option_decorator(DTYPE)


def run_step(step: Step[T] | ShardedStep[T], job: Job | None = None, made: Callable[[T], str] | None = None) -> str:
    """Run ``step`` (as ``job``'s shard) with this command's ``--overwrite``; what it made is said by ``made``, kept outputs
    Pyserini-style. The status: ``made``, ``kept`` or ``shard done``."""
    overwrite = bool(click.get_current_context().meta.get(OVERWRITE, False))
    outcome = step.run(overwrite, job)
    output = step.outputs.record.parent if step.outputs.record.name == RECORD_NAME else step.outputs.files[0]
    if outcome.status == MADE and made is not None:
        click.echo(made(outcome.value))  # type: ignore[arg-type]
    elif outcome.kept:
        click.echo(f"{output} exists, made with these arguments and inputs and unchanged since; skipping (pass --overwrite to "
                   f"redo it)", err=True)
    elif outcome.status == SHARD_DONE and job is not None and job.store is None:
        where = "--index" if output.is_dir() else "--output"
        click.echo(f"{job.shard.label} of {output} done; when all are: resrank-eval merge {where} {output}")
    return outcome.status
