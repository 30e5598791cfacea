"""``index`` and ``retrieve``: building first-stage runs, Pyserini-style."""

from __future__ import annotations

import click

from ..formats.trec import LEADERBOARD_HITS
from .common import (
    POSITIVE,
    Input,
    Writable,
    checked_tag,
    corpus_option,
    dataset_option,
    device_option,
    dtype_option,
    overwrite_option,
    run_step,
    shard_options,
    split_option,
    threads_option,
)


@click.command("index")
@dataset_option
@corpus_option
@click.option("--index", "index_dir", type=Writable(folder=True), default=None, help="Where to build; default: a cache keyed by the corpus bytes.")
@threads_option
@overwrite_option
def index(dataset: str, corpus: str | None, index_dir: str | None, threads: int) -> str:
    """Build (or reuse) a BM25 Lucene index of a BEIR corpus, title and text in one field."""
    from ..datasets.registry import get_dataset
    from ..retrieve.bm25 import index_step

    ds = get_dataset(dataset, corpus)
    if ds.corpus_dir is None:
        raise click.UsageError(f"dataset {dataset!r} has no local corpus; pass --corpus DIR")
    step = index_step(ds.corpus_dir, index_dir, threads=threads)
    status = run_step(step)
    click.echo(step.outputs.files[0])
    return status


@click.command("retrieve")
@dataset_option
@corpus_option
@split_option
@click.option("--topics", type=click.Path(exists=True, dir_okay=False), default=None, help="Topic file overriding the dataset's.")
@click.option("--method", type=click.Choice(["bm25", "dense"]), default="bm25", show_default=True,
              help="BM25 over a Lucene index, or dense retrieval with the ResRank encoder over a FAISS index.")
@click.option("--index", default=None, help="Lucene index dir or Pyserini prebuilt name (bm25); FAISS index dir (dense).")
@click.option("--model", default=None, help="ResRank checkpoint or encoder for --method dense.")
@click.option("--hits", type=POSITIVE, default=LEADERBOARD_HITS, show_default=True,
              help="Hits per query the run keeps (Pyserini's --hits).")
@click.option("--batch-size", type=POSITIVE, default=64, show_default=True,
              help="Queries searched per call (Pyserini's --batch-size): BM25's over --threads threads, dense's one encoder batch.")
@click.option("--remove-query/--keep-query", default=None, help="Drop hits whose docid equals the qid (default: on for BEIR).")
@click.option("--output", type=Writable(), default=None, help="Run file; default runs/run.<dataset>.<method>.<split>.txt.")
@click.option("--run-tag", callback=checked_tag, default=None, help="Run tag (6th column).  [default: bm25-flat or dense-<model>]")
@shard_options
@device_option
@dtype_option
@threads_option
@overwrite_option
def retrieve(dataset: str, corpus: str | None, split: str, topics: str | None, method: str, index: str | None, model: str | None,
             hits: int, batch_size: int, remove_query: bool | None, output: str | None, run_tag: str | None, shard_id: int | None,
             shard_num: int | None, device: str | None, dtype: str, threads: int) -> str:
    """Build a first-stage run with BM25 (Lucene) or the ResRank encoder (FAISS); dense runs sharded under torchrun.

    An existing run is kept only when it was made with the same arguments and inputs and is unchanged since
    (<run>.provenance.json records them); one made otherwise is refused, naming what differs.
    """
    from ..datasets.registry import get_dataset
    from ..formats.topics import read_topics
    from ..formats.trec import run_file_name
    from ..parallel import sharded
    from ..paths import runs_dir
    from ..retrieve import retrieve_step, system_name
    from ..types import Run

    ds = get_dataset(dataset, corpus, split)
    tag = run_tag or system_name(method, model)
    output = output or str(runs_dir() / run_file_name(ds.name, tag, split))
    queries = read_topics(topics) if topics else ds.topics()

    def made(run: Run) -> str:
        found = sum(1 for hits in run.values() if hits)
        without = f" with hits ({len(run) - found} without)" if found < len(run) else ""
        return f"{found} queries{without} -> {output}"

    return run_step(retrieve_step(output, ds, method, queries, index, model, hits, batch_size, threads, remove_query, device,
                                  dtype, tag, {"topics": topics}), sharded(shard_id, shard_num), made)


def _weights(ctx: click.Context, param: click.Parameter, value: str | None) -> list[float] | None:
    """``0.1,0.9`` -> ``[0.1, 0.9]``; whether they suit the runs (one positive weight each), :func:`fuse_step` checks."""
    if value is None:
        return None
    try:
        return [float(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None


@click.command("fuse")
@click.argument("runs", nargs=-1, required=True, type=Input(dir_okay=False))
@click.option("--method", type=click.Choice(["rrf", "interpolate"]), default="rrf", show_default=True,
              help="Reciprocal-rank fusion, or per-query min-max normalised score interpolation.")
@click.option("--weights", callback=_weights, default=None, help="Comma-separated weight per run, e.g. 0.1,0.9.  [default: 1 each (rrf), equal shares (interpolate)]")
@click.option("--rrf.k", "k", type=float, default=None, help="RRF constant (rrf only), as Pyserini's fusion names it.  [default: 60]")
@click.option("--depth", type=POSITIVE, default=LEADERBOARD_HITS, show_default=True, help="Hits per query each run contributes.")
@click.option("--hits", type=POSITIVE, default=LEADERBOARD_HITS, show_default=True,
              help="Hits per query the fused run keeps (Pyserini's fusion: --k).")
@click.option("--run-tag", callback=checked_tag, default=None, help="Run tag.  [default: rrf-k60 or interpolate-<weights>]")
@click.option("--output", required=True, type=Writable(), help="Fused TREC run to write.")
@overwrite_option
def fuse(runs: tuple[str, ...], method: str, weights: list[float] | None, k: float | None, depth: int, hits: int, run_tag: str | None,
         output: str) -> str:
    """Fuse two or more TREC runs into a new first-stage run (RRF or score interpolation); kept when made so before."""
    from ..retrieve.fusion import fuse_step

    return run_step(fuse_step(runs, output, method, weights, k, depth, hits, run_tag),
                    made=lambda fused: f"{len(fused)} queries fused ({method}) -> {output}")

COMMANDS = [index, retrieve, fuse]
