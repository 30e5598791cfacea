"""``merge``: join the shards that separate jobs (``--shard-id/--shard-num``) wrote into one output."""

from __future__ import annotations

import click


@click.command("merge")
@click.option("--index", "index_dir", type=click.Path(file_okay=False), default=None,
              help="Dense index folder whose shards `encode --shard-id/--shard-num` wrote.")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Run whose shards `retrieve` or `rerank --shard-id/--shard-num` wrote.")
def merge(index_dir: str | None, output: str | None) -> None:
    """Merge finished shards into exactly what one process writes (an error names the shards still missing)."""
    from ..errors import ResrankError

    if (index_dir is None) == (output is None):
        raise ResrankError("pass exactly one of --index DIR or --output RUN")
    if index_dir is not None:
        from ..retrieve.dense import merge_dense_index

        click.echo(f"dense index: {merge_dense_index(index_dir)}")
        return
    from pathlib import Path

    from ..jobs import read_shard_logs
    from ..rerank.sink import merge_rerank
    from ..retrieve.search import merge_run

    merges = {"rerank": merge_rerank, "retrieve": merge_run}
    command = read_shard_logs(Path(output))[0].header["provenance"]["command"]
    if command not in merges:
        raise ResrankError(f"{output}: the shards of {command!r}, not of a run; merge them with --index DIR")
    merges[command](output)
    click.echo(f"run: {output}")


COMMANDS = [merge]
