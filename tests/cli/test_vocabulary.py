"""One flag per concept across the commands: what a user learns on one command works on the next."""

from __future__ import annotations

import click

from resrank_eval.cli import main


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(main)
    return {name: command for name in main.list_commands(ctx) if (command := main.get_command(ctx, name)) is not None}


def test_regress_names_its_options_as_reproduce_does() -> None:
    """``regress`` is ``reproduce FILE --check --overwrite``, yet took the file as ``--file``, the conditions as repeated
    ``--only`` (``reproduce --conditions a,b``; ``--only a,b`` was one unknown condition) and the folder as ``--runs-dir``."""
    commands = _commands()

    def params(name: str) -> dict[str, tuple]:
        return {p.name: (type(p), p.opts, p.multiple, p.callback) for p in commands[name].params if p.name}

    regress, reproduce = params("regress"), params("reproduce")
    assert {name: spec for name, spec in regress.items() if reproduce.get(name) != spec} == {}
