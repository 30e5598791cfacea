"""``index``, ``retrieve`` and ``rerank``: building runs, Pyserini-style."""

from __future__ import annotations

from pathlib import Path

import click

from .common import corpus_option, dataset_option, handle_errors, overwrite_option, refuse_existing, split_option, threads_option


def default_run_path(dataset_slug: str, method: str, split: str) -> Path:
    """Pyserini-style deterministic name: ``runs/run.<dataset>.<method>.<split>.txt``."""
    from ..paths import runs_dir

    return runs_dir() / f"run.{dataset_slug}.{method}.{split}.txt"


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
@threads_option
@overwrite_option
@handle_errors
def retrieve(dataset: str, corpus: str | None, split: str, topics: str | None, method: str, index_name: str | None, model: str | None,
             hits: int, batch_size: int, remove_query: bool | None, output: str | None, threads: int, overwrite: bool) -> None:
    """Build a first-stage run with BM25 (Lucene) or the ResRank encoder (FAISS)."""
    from ..datasets.registry import get_dataset
    from ..formats.trec import write_run
    from .resolve import resolve_topics

    ds = get_dataset(dataset, corpus, split)
    tag = "bm25-flat" if method == "bm25" else f"dense-{Path(model or 'encoder').name}"
    output = output or str(default_run_path(ds.slug, tag, split))
    if refuse_existing(output, overwrite):
        return
    queries = resolve_topics(dataset, topics, corpus, split)
    if method == "bm25":
        from ..retrieve.bm25 import bm25_index, bm25_search, open_searcher

        source = index_name or (bm25_index(ds.corpus_dir, threads=threads) if ds.corpus_dir else ds.prebuilt_index)
        if source is None:
            raise click.UsageError(f"dataset {dataset!r} has no local corpus or prebuilt index; pass --corpus DIR or --index")
        drop_self = ds.remove_query if remove_query is None else remove_query
        run = bm25_search(open_searcher(source), queries, hits=hits, threads=threads, batch_size=batch_size, remove_query=drop_self)
    else:
        from ..retrieve.dense import dense_retrieve

        if not model or not index_name:
            raise click.UsageError("--method dense needs --model and --index (built by `resrank-eval encode`)")
        run = dense_retrieve(index_name, model, queries, hits=hits, batch_size=batch_size, threads=threads)
    write_run(output, run, tag)
    click.echo(f"{len(run)} queries -> {output}")


@click.command("rerank")
@dataset_option
@click.option("--corpus", type=click.Path(exists=True), default=None, help="BEIR directory or corpus JSONL (e.g. an imported passage store) with the texts.")
@click.option("--topics", type=click.Path(exists=True, dir_okay=False), default=None, help="Topic file overriding the dataset's.")
@click.option("--run", "run_path", type=click.Path(exists=True, dir_okay=False), default=None, help="First-stage TREC run.")
@click.option("--candidates", type=click.Path(exists=True, dir_okay=False), default=None, help="rank_llm candidate JSON (run + texts) instead of --run.")
@click.option("--reranker", type=click.Choice(["identity", "resrank", "encoder", "rankgpt", "first"]), default="resrank", show_default=True)
@click.option("--model", default=None, help="ResRank checkpoint dir / preset, or a causal LM for rankgpt/first.")
@click.option("--dense-index", type=click.Path(file_okay=False), default=None, help="Dense index whose stored passage vectors ResRank reuses.")
@click.option("--index", "lucene_index", type=click.Path(file_okay=False), default=None, help="Lucene index with stored raw text (when no corpus).")
@click.option("--top-k", type=int, default=100, show_default=True)
@click.option("--batch-size", type=int, default=1, show_default=True, help="Queries per reranker call.")
@click.option("--device", default=None, help="torch device (default: cuda if available).")
@click.option("--window", type=int, default=20, show_default=True, help="rankgpt/first: passages per LLM call.")
@click.option("--stride", type=int, default=10, show_default=True, help="rankgpt/first: window step, back to front.")
@click.option("--max-words", type=int, default=300, show_default=True, help="rankgpt/first: words kept per passage.")
@click.option("--api-base", default=None, help="rankgpt: OpenAI-compatible server URL (vLLM, API); --model is the served name.")
@click.option("--engine", type=click.Choice(["fast", "eager"]), default="fast", show_default=True, help="resrank/encoder: static-shape fast path, or the plain reference.")
@click.option("--run-tag", default=None, help="Run tag (6th column), the system's label in reports.  [default: the reranker name]")
@click.option("--output", required=True, type=click.Path(dir_okay=False))
@overwrite_option
@handle_errors
def rerank(dataset: str, corpus: str | None, topics: str | None, run_path: str | None, candidates: str | None, reranker: str, model: str | None,
           dense_index: str | None, lucene_index: str | None, top_k: int, batch_size: int, device: str | None, window: int, stride: int,
           max_words: int, api_base: str | None, engine: str, run_tag: str | None, output: str, overwrite: bool) -> None:
    """Rerank the top-k of a run; writes the run, <run>.stats.jsonl and <run>.summary.json."""
    from ..rerank.driver import RerankOutputs, rerank_run
    from ..rerank.registry import RerankerOptions, build_reranker
    from .resolve import passage_lookup, resolve_first_stage

    if refuse_existing(output, overwrite):
        return
    if overwrite:
        RerankOutputs.for_run(output).partial.unlink(missing_ok=True)
    queries, run, lookup_source = resolve_first_stage(dataset, corpus, topics, run_path, candidates)
    options = RerankerOptions(device, batch_size, dense_index, window, stride, max_words, api_base, engine)
    model_obj = build_reranker(reranker, model, options)
    outputs = rerank_run(model_obj, queries, run, passage_lookup(lookup_source, lucene_index), output, top_k=top_k, batch_size=batch_size, tag=run_tag)
    click.echo(f"{len(run)} queries reranked by {model_obj.name} -> {outputs.run} (+ {outputs.stats.name}, {outputs.summary.name})")


COMMANDS = [index, retrieve, rerank]
