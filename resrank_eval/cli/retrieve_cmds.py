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
@device_option
@dtype_option
@threads_option
@overwrite_option
@handle_errors
def retrieve(dataset: str, corpus: str | None, split: str, topics: str | None, method: str, index_name: str | None, model: str | None,
             hits: int, batch_size: int, remove_query: bool | None, output: str | None, device: str | None, dtype: str, threads: int,
             overwrite: bool) -> None:
    """Build a first-stage run with BM25 (Lucene) or the ResRank encoder (FAISS)."""
    from ..datasets.registry import get_dataset
    from ..formats.topics import read_topics
    from ..formats.trec import run_file_name, write_run
    from ..paths import runs_dir
    from ..retrieve import retrieve as first_stage
    from ..retrieve import system_name

    ds = get_dataset(dataset, corpus, split)
    tag = system_name(method, model)
    output = output or str(runs_dir() / run_file_name(ds.name, tag, split))
    if refuse_existing(output, overwrite):
        return
    queries = read_topics(topics) if topics else None
    run = first_stage(ds, method, queries, index_name, model, hits, batch_size, threads, remove_query, device, dtype)
    write_run(output, run, tag)
    click.echo(f"{len(run)} queries -> {output}")


COMMANDS = [index, retrieve]
