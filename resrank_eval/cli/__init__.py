"""The ``resrank-eval`` command: a thin Click layer over the library.

Command modules import their heavy dependencies (Pyserini, torch) inside the command bodies, so
``--help`` and ``evaluate`` start in well under a second.
"""

from __future__ import annotations

import click

from .. import __version__
from ..logs import configure
from . import data_cmds, demo_cmds, eval_cmds, model_cmds, report_cmds, rerank_cmds, retrieve_cmds, train_cmds


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="resrank-eval")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and errors only, no progress bars.")
@click.option("--verbose", "-v", is_flag=True, help="Also debug messages (per-step records, per-window details).")
def main(quiet: bool, verbose: bool) -> None:
    """Run, train and benchmark ResRank rerankers on Pyserini first-stage runs.

    Progress bars show on a terminal only; messages go to stderr, results to stdout.
    """
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    configure(-1 if quiet else 1 if verbose else 0)


for module in (demo_cmds, data_cmds, retrieve_cmds, rerank_cmds, model_cmds, train_cmds, eval_cmds, report_cmds):
    for command in module.COMMANDS:
        main.add_command(command)
