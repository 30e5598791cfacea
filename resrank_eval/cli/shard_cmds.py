"""``merge``: join the shards that separate jobs (``--shard-id/--shard-num``) wrote into one output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import OVERWRITE, CliError, describe, flags_of, overwrite_option

SHARDED = ("encode", "retrieve", "rerank")
"""The commands whose shards ``merge`` joins: an error names their arguments as they take them."""


@click.command("merge")
@click.option("--index", "index_dir", type=click.Path(file_okay=False), default=None,
              help="Dense index folder whose shards `encode --shard-id/--shard-num` wrote.")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Run whose shards `retrieve` or `rerank --shard-id/--shard-num` wrote.")
@overwrite_option
def merge(index_dir: str | None, output: str | None) -> None:
    """Merge finished shards into exactly what one process writes (an error names the shards still missing). Outputs there
    already are kept when made with the shards' arguments and inputs, refused when not; run again, merge keeps what it merged."""
    from ..errors import ResrankError
    from ..jobs import KEPT, MERGED

    if (index_dir is None) == (output is None):
        raise ResrankError("pass exactly one of --index DIR or --output RUN")
    ctx = click.get_current_context()
    try:
        outcome, made, where = _merged(index_dir, output, bool(ctx.meta.get(OVERWRITE, False)))
    except ResrankError as exc:  # the shards' arguments named as the commands that make shards take them (--top-k)
        group = ctx.parent.command if ctx.parent else None
        makers = [group.get_command(ctx, name) for name in SHARDED] if isinstance(group, click.Group) else []
        flags = {name: flag for maker in makers if maker for name, flag in flags_of(maker, ctx).items()}
        raise CliError(describe(exc, {**flags, **flags_of(ctx.command, ctx)})[0]) from None
    if outcome.status == MERGED:
        click.echo(f"{where}: merged already (no shard left to merge; its files are as its record lists); skipping", err=True)
    elif outcome.status == KEPT:
        click.echo(f"{where} exists, made with the shards' arguments and inputs and unchanged since; skipping (pass --overwrite "
                   f"to merge again)", err=True)
    else:
        click.echo(f"{made}: {where}")


def _merged(index_dir: str | None, output: str | None, overwrite: bool) -> tuple[Any, str, str]:
    """Run the merge of a dense index's or a run's shards: its outcome, what it made and where."""
    from ..errors import ResrankError
    from ..jobs import finished_shards, read_shard_logs

    if index_dir is not None:
        from ..retrieve.dense import index_merge

        return index_merge(index_dir).run(overwrite), "dense index", index_dir
    from ..rerank.sink import rerank_merge
    from ..retrieve.search import run_merge

    merges = {"rerank": rerank_merge, "retrieve": run_merge}
    # no shard left: any run's merge verifies it against every file its record lists (a rerank's stats too)
    command = read_shard_logs(Path(output))[0].command if finished_shards(Path(output)) else "retrieve"
    if command not in merges:
        raise ResrankError(f"{output}: the shards of {command!r}, not of a run; merge them with --index DIR")
    return merges[command](output).run(overwrite), "run", str(output)


COMMANDS = [merge]
