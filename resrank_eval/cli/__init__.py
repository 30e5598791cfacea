"""The ``resrank-eval`` command: a thin Click layer over the library.

Command modules import their heavy dependencies (Pyserini, torch) inside the command bodies, so
``--help`` and ``evaluate`` start in well under a second.
"""

from __future__ import annotations

import click

from .. import __version__
from . import data_cmds, demo_cmds, eval_cmds, model_cmds, report_cmds, retrieve_cmds, train_cmds


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="resrank-eval")
def main() -> None:
    """Run, train and benchmark ResRank rerankers on Pyserini first-stage runs."""


for module in (demo_cmds, data_cmds, retrieve_cmds, model_cmds, train_cmds, eval_cmds, report_cmds):
    for command in module.COMMANDS:
        main.add_command(command)
