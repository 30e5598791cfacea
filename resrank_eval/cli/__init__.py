"""The ``resrank-eval`` command: a thin Click layer over the library.

Command modules import their heavy dependencies (Pyserini, torch) inside the command bodies, so
``--help`` and ``evaluate`` start in well under a second. :class:`ResrankGroup` is the one error
boundary: whatever a command raises reaches the user as one ``Error:`` line.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..logs import configure
from ..version import __version__
from . import (
    data_cmds,
    demo_cmds,
    eval_cmds,
    model_cmds,
    report_cmds,
    reproduce_cmds,
    rerank_cmds,
    retrieve_cmds,
    serve_cmds,
    shard_cmds,
    train_cmds,
)
from .common import CliError, describe, flags_of


class ResrankGroup(click.Group):
    """Runs a command and turns any exception it raises into ``Error: <what>`` and exit status 2 (a bug: 1).

    Usage errors (a bad option value) are one line too, naming the option. Ctrl-C is ``Error: interrupted`` and exit
    status 130 (128 + SIGINT, as shells report it; from torchrun's rank 0 only), where click says ``Aborted!`` with 1, the status
    of a bug; outputs are
    written atomically, so an interrupted command leaves none half-made.

    ``--debug`` lets the exception through instead, with its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # one line too, with the way to the command's help
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            raise CliError(f"{exc.format_message()} (see {where} --help)") from None
        except (click.ClickException, click.exceptions.Exit):
            raise
        except (KeyboardInterrupt, click.Abort):
            if int(os.environ.get("RANK", "0")) > 0:  # torchrun interrupts every worker: rank 0 alone says so
                raise click.exceptions.Exit(130) from None
            raise CliError("interrupted", 130) from None
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            message, status = describe(exc, flags_of(command, ctx) if command else {})
            raise CliError(message, status) from None


@click.group(cls=ResrankGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="resrank-eval")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and errors only, no progress bars.")
@click.option("--verbose", "-v", is_flag=True, help="Also debug messages (per-step records, per-window details).")
@click.option("--debug", is_flag=True, help="Show the traceback of an error instead of one line.")
def main(quiet: bool, verbose: bool, debug: bool) -> None:
    """Run, train and benchmark ResRank rerankers on Pyserini first-stage runs.

    Progress bars show on a terminal only; messages go to stderr, results to stdout. Errors are one
    line, `Error: <file>:<line>: <what>`, with exit status 2.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    configure(-1 if quiet else 1 if verbose else 0)


for module in (demo_cmds, data_cmds, retrieve_cmds, rerank_cmds, model_cmds, shard_cmds, train_cmds, eval_cmds, report_cmds, reproduce_cmds,
               serve_cmds):
    for command in module.COMMANDS:
        main.add_command(command)
