"""``index`` and ``retrieve``: building first-stage runs, Pyserini-style."""

from __future__ import annotations

import click

from .common import (
    corpus_option,
    dataset_option,
    device_option,
    dtype_option,
    handle_errors,
    overwrite_option,
    refuse_existing,
    split_option,
    threads_option,
)


@click.command("index")
@dataset_option
@corpus_option
@click.option("--index", "index_dir", type=click.Path(file_okay=False), default=None, help="Where to build; default: a cache keyed by the corpus bytes.")
@threads_option
@overwrite_option
@handle_errors
def index(dataset: str, corpus: str | None, index_dir: str | None, threads: int, overwrite: bool) -> None:
    """Build (or reuse) a BM25 Lucene index of a BEIR corpus, title and text in one field."""
    from ..datasets.registry import get_dataset
    from ..retrieve.bm25 import bm25_index

    ds = get_dataset(dataset, corpus)
    if ds.corpus_dir is None:
        raise click.UsageError(f"dataset {dataset!r} has no local corpus; pass --corpus DIR")
    click.echo(bm25_index(ds.corpus_dir, index_dir, threads=threads, overwrite=overwrite))


@click.command("retrieve")
@dataset_option
@corpus_option
@split_option
@click.option("--topics", type=click.Path(exists=True, dir_okay=False), default=None, help="Topic file overriding the dataset's.")
@click.option("--method", type=click.Choice(["bm25", "dense"]), default="bm25", show_default=True)
@click.option("--index", "index_name", default=None, help="Lucene index dir or Pyserini prebuilt name (bm25); FAISS index dir (dense).")
@click.option("--model", default=None, help="ResRank checkpoint or encoder for --method dense.")
@click.option("--hits", type=int, default=1000, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--remove-query/--keep-query", default=None, help="Drop hits whose docid equals the qid (default: on for BEIR).")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Run file; default runs/run.<dataset>.<method>.<split>.txt.")
@click.option("--run-tag", default=None, help="Run tag (6th column).  [default: bm25-flat or dense-<model>]")
@device_option
@dtype_option
@threads_option
@overwrite_option
@handle_errors
def retrieve(dataset: str, corpus: str | None, split: str, topics: str | None, method: str, index_name: str | None, model: str | None,
             hits: int, batch_size: int, remove_query: bool | None, output: str | None, run_tag: str | None, device: str | None,
             dtype: str, threads: int, overwrite: bool) -> None:
    """Build a first-stage run with BM25 (Lucene) or the ResRank encoder (FAISS)."""
    from ..datasets.registry import get_dataset
    from ..formats.topics import read_topics
    from ..formats.trec import run_file_name, write_run
    from ..paths import runs_dir
    from ..retrieve import retrieve as first_stage
    from ..retrieve import system_name

    ds = get_dataset(dataset, corpus, split)
    tag = run_tag or system_name(method, model)
    output = output or str(runs_dir() / run_file_name(ds.name, tag, split))
    if refuse_existing(output, overwrite):
        return
    queries = read_topics(topics) if topics else None
    run = first_stage(ds, method, queries, index_name, model, hits, batch_size, threads, remove_query, device, dtype)
    write_run(output, run, tag)
    click.echo(f"{len(run)} queries -> {output}")


@click.command("fuse")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--method", type=click.Choice(["rrf", "interpolate"]), default="rrf", show_default=True,
              help="Reciprocal-rank fusion, or per-query min-max normalised score interpolation.")
@click.option("--weights", default=None, help="Comma-separated weight per run, e.g. 0.1,0.9.  [default: 1 each (rrf), equal shares (interpolate)]")
@click.option("--k", "rrf_k", type=float, default=60.0, show_default=True, help="RRF constant.")
@click.option("--depth", type=int, default=1000, show_default=True, help="Hits per query each run contributes.")
@click.option("--hits", type=int, default=1000, show_default=True, help="Hits per query the fused run keeps.")
@click.option("--run-tag", default=None, help="Run tag.  [default: rrf-k60 or interpolate-<weights>]")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Fused TREC run to write.")
@overwrite_option
@handle_errors
def fuse(runs: tuple[str, ...], method: str, weights: str | None, rrf_k: float, depth: int, hits: int, run_tag: str | None,
         output: str, overwrite: bool) -> None:
    """Fuse two or more TREC runs into a new first-stage run (RRF or score interpolation)."""
    from ..formats.trec import read_run, write_run
    from ..retrieve.fusion import fuse as fuse_runs
    from ..retrieve.fusion import fusion_name, parse_weights

    if refuse_existing(output, overwrite):
        return
    parsed = parse_weights(weights) if weights else None
    fused = fuse_runs([read_run(r) for r in runs], method, parsed, rrf_k, depth, hits)
    write_run(output, fused, run_tag or fusion_name(method, parsed, rrf_k))
    click.echo(f"{len(fused)} queries fused ({method}) -> {output}")


COMMANDS = [index, retrieve, fuse]
