"""``merge``: join the shards that separate jobs (``--shard-id/--shard-num``) wrote into one output."""

from __future__ import annotations

from pathlib import Path

import click

from .common import OVERWRITE, overwrite_option


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
    from ..jobs import KEPT, MERGED, finished_shards, read_shard_logs

    if (index_dir is None) == (output is None):
        raise ResrankError("pass exactly one of --index DIR or --output RUN")
    overwrite = bool(click.get_current_context().meta.get(OVERWRITE, False))
    if index_dir is not None:
        from ..retrieve.dense import index_merge

        outcome, made, where = index_merge(index_dir).run(overwrite), "dense index", index_dir
    else:
        from ..rerank.sink import rerank_merge
        from ..retrieve.search import run_merge

        merges = {"rerank": rerank_merge, "retrieve": run_merge}
        # no shard left: any run's merge verifies it against every file its record lists (a rerank's stats too)
        command = read_shard_logs(Path(output))[0].header["provenance"]["command"] if finished_shards(Path(output)) else "retrieve"
        if command not in merges:
            raise ResrankError(f"{output}: the shards of {command!r}, not of a run; merge them with --index DIR")
        outcome, made, where = merges[command](output).run(overwrite), "run", output
    if outcome.status == MERGED:
        click.echo(f"{where}: merged already (no shard left to merge; its files are as its record lists); skipping", err=True)
    elif outcome.status == KEPT:
        click.echo(f"{where} exists, made with the shards' arguments and inputs and unchanged since; skipping (pass --overwrite "
                   f"to merge again)", err=True)
    else:
        click.echo(f"{made}: {where}")


COMMANDS = [merge]
