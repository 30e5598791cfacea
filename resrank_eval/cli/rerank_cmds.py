"""``rerank``: any registered reranker over a first-stage run, written as run + stats + summary.

``--reranker``'s choices and each reranker's options come from the registry when the command is
parsed, so a reranker subclass defined anywhere (a plug-in, a test) is usable here without editing
this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import (
    PLANNED,
    POSITIVE,
    Input,
    Writable,
    checked_tag,
    intra_op_threads_option,
    option_parameter,
    overwrite_option,
    run_step,
    shard_options,
    split_option,
    top_k_option,
)


class RerankerCommand(click.Command):
    """A Click command that appends ``--reranker`` and the registered rerankers' options to its own."""

    _built: tuple[tuple[str, ...], list[click.Parameter]] | None = None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        help_option = self.get_help_option(ctx)
        static = [p for p in super().get_params(ctx) if p is not help_option]
        return [*static, *self._reranker_params(), *([help_option] if help_option else [])]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse, then check the options against the chosen reranker (loading nothing): a parsed command line is one that can
        run, which ``reproduce`` relies on to check every cell first (a path a grid's earlier step makes counts as not given)."""
        from ..rerank.registry import reranker_factory, reranker_options

        rest = super().parse_args(ctx, args)
        planned = ctx.meta.get(PLANNED, ())
        options = {name: None if isinstance(value, str) and Path(value).absolute() in planned else value
                   for name in reranker_options() if (value := ctx.params.get(name)) is not None}
        reranker_factory(ctx.params["reranker"], **options)
        return rest

    def _reranker_params(self) -> list[click.Parameter]:
        """Built once per set of registered rerankers (Click must see the same objects while parsing)."""
        from ..rerank.registry import reranker_options, rerankers

        names = tuple(rerankers())
        if self._built is None or self._built[0] != names:
            choice = click.Option(["--reranker"], type=click.Choice(names), default="resrank", show_default=True,
                                  help="Which reranker; the options below say which rerankers take them.")
            self._built = (names, [choice, *(option_parameter(o, used_by) for o, used_by in reranker_options().values())])
        return self._built[1]


@click.command("rerank", cls=RerankerCommand)
@click.option("--dataset", required=True, help="Benchmark name (see `resrank-eval datasets`), or any name with --corpus.")
@click.option("--corpus", type=Input(), default=None, help="BEIR directory or corpus JSONL (e.g. an imported passage store) with the texts.")
@split_option
@click.option("--topics", type=click.Path(exists=True, dir_okay=False), default=None, help="Topic file overriding the dataset's.")
@click.option("--run", "run_path", type=Input(dir_okay=False), default=None, help="First-stage TREC run.")
@click.option("--candidates", type=click.Path(exists=True, dir_okay=False), default=None, help="rank_llm candidate JSON (run + texts) instead of --run.")
@click.option("--index", "lucene_index", type=click.Path(file_okay=False), default=None, help="Lucene index with stored raw text (when no corpus).")
@top_k_option
@click.option("--batch-size", type=POSITIVE, default=1, show_default=True, help="Queries per reranker call.")
@click.option("--run-tag", callback=checked_tag, default=None, help="Run tag (6th column), the system's label in reports.  [default: the reranker name]")
@click.option("--output", required=True, type=Writable(),
              help="Reranked TREC run to write; <run>.stats.jsonl and <run>.summary.json go beside it.")
@shard_options
@intra_op_threads_option
@overwrite_option
def rerank(dataset: str, corpus: str | None, split: str, topics: str | None, run_path: str | None, candidates: str | None, lucene_index: str | None,
           top_k: int, batch_size: int, run_tag: str | None, output: str, shard_id: int | None, shard_num: int | None, threads: int | None,
           reranker: str, **options: Any) -> str:
    """Rerank the top-k of a run; writes the run, <run>.stats.jsonl and <run>.summary.json; a killed rerank resumes.

    Existing outputs are kept, and a killed rerank resumed, only when made with the same arguments and inputs and
    unchanged since (<run>.provenance.json records them); anything else is refused, naming what differs.
    Under torchrun (or with --shard-id/--shard-num) each process reranks its share of the queries.
    """
    from ..parallel import sharded
    from ..rerank.registry import reranker_factory
    from ..rerank.sink import rerank_step
    from .resolve import resolve_first_stage

    factory = reranker_factory(reranker, **options)  # checked when the line was parsed; this builds nothing yet
    queries, run, passages, texts = resolve_first_stage(dataset, corpus, topics, run_path, candidates, lucene_index, split)
    job = sharded(shard_id, shard_num)
    step = rerank_step(factory, queries, run, passages, output, top_k, batch_size, run_tag, threads, texts,
                       {"run": run_path, "topics": topics})
    return run_step(step, job, lambda made: f"{len(run)} queries reranked by {reranker} -> {made.run} (+ {made.stats.name}, "
                                            f"{made.summary.name})")


COMMANDS = [rerank]
