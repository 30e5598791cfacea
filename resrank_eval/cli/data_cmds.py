"""``datasets``, ``import-candidates`` and ``export-candidates``: what the benchmarks are made of."""

from __future__ import annotations

from pathlib import Path

import click

from .common import handle_errors, overwrite_option, refuse_existing


@click.command("datasets")
def datasets() -> None:
    """List the benchmarks, their measures and where topics, qrels and corpus come from."""
    from ..datasets import DATASETS

    for ds in DATASETS.values():
        src = ds.sources()
        click.echo(f"{ds.name:<22} rel>={ds.rel_level}  {', '.join(ds.measures)}")
        for part in ("topics", "qrels", "corpus"):
            click.echo(f"    {part:<7} {src[part]}")


@click.command("import-candidates")
@click.argument("candidates", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="TREC run to write.")
@click.option("--passages", type=click.Path(dir_okay=False), default=None, help="Passage store (BEIR corpus JSONL); default: <output>.passages.jsonl.")
@click.option("--topics-output", type=click.Path(dir_okay=False), default=None, help="Also write the queries as a TSV topic file.")
@click.option("--tag", default="candidates", show_default=True, help="Run tag.")
@overwrite_option
@handle_errors
def import_candidates(candidates: str, output: str, passages: str | None, topics_output: str | None, tag: str, overwrite: bool) -> None:
    """Import candidates (RankGPT JSON, or rank_llm Request/Result JSON or JSONL) into a TREC run plus a passage-text store."""
    from ..datasets.corpus import write_corpus
    from ..formats.atomic import atomic_write
    from ..formats.candidates import read_candidates
    from ..formats.trec import write_run

    passages = passages or f"{output}.passages.jsonl"
    if refuse_existing(output, overwrite):
        return
    data = read_candidates(candidates)
    write_corpus(passages, data.passages)
    if topics_output:
        with atomic_write(topics_output) as handle:
            handle.writelines(f"{q.qid}\t{q.text}\n" for q in data.topics.values())
    write_run(output, data.run, tag)
    click.echo(f"{len(data.run)} queries, {sum(map(len, data.run.values()))} hits -> {output}; {len(data.passages)} passages -> {passages}")


@click.command("export-candidates")
@click.option("--dataset", default=None, help="Benchmark whose topics give the query text.")
@click.option("--topics", type=click.Path(exists=True, dir_okay=False), default=None, help="Topic file (TSV or queries.jsonl) instead of --dataset.")
@click.option("--run", "run_path", required=True, type=click.Path(exists=True, dir_okay=False), help="TREC run to export.")
@click.option("--corpus", required=True, type=click.Path(exists=True), help="BEIR corpus dir or JSONL holding the passage texts.")
@click.option("--hits", type=int, default=100, show_default=True, help="Candidates per query to export.")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Candidate file to write.")
@click.option("--format", "fmt", type=click.Choice(["auto", "rankgpt", "request"]), default="auto", show_default=True,
              help="RankGPT JSON ({query, hits}) or rank_llm Request JSONL ({query: {text, qid}, candidates}); auto: request for *.jsonl.")
@overwrite_option
@handle_errors
def export_candidates(dataset: str | None, topics: str | None, run_path: str, corpus: str, hits: int, output: str, fmt: str,
                      overwrite: bool) -> None:
    """Export a run plus passage texts to rank_llm candidate files (RankGPT JSON or Request JSONL)."""
    from ..datasets.corpus import load_passages
    from ..formats.candidates import write_candidates
    from ..formats.requests import is_requests_file, write_requests
    from ..formats.trec import read_run
    from .resolve import resolve_topics

    if refuse_existing(output, overwrite):
        return
    query_texts = resolve_topics(dataset, topics)
    run = {qid: cands[:hits] for qid, cands in read_run(run_path).items()}
    texts = load_passages(corpus, {c.docid for cands in run.values() for c in cands})
    request = fmt == "request" or (fmt == "auto" and is_requests_file(output))
    (write_requests if request else write_candidates)(output, query_texts, run, texts)
    click.echo(f"{len(run)} queries -> {Path(output)}")


@click.command("convert-run")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "target", type=click.Choice(["trec", "msmarco"]), required=True, help="Format to write.")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Run file to write.")
@click.option("--run-tag", default="converted", show_default=True, help="Run tag when writing TREC (MS MARCO runs have none).")
@overwrite_option
@handle_errors
def convert_run(run: str, target: str, output: str, run_tag: str, overwrite: bool) -> None:
    """Convert between a TREC run and the MS MARCO leaderboard TSV (qid, docid, rank); the input format is recognised."""
    from ..formats.msmarco import looks_like_msmarco, read_msmarco_run, write_msmarco_run
    from ..formats.trec import read_run, write_run

    if refuse_existing(output, overwrite):
        return
    data = read_msmarco_run(run) if looks_like_msmarco(run) else read_run(run)
    if target == "msmarco":
        write_msmarco_run(output, data)
    else:
        write_run(output, data, run_tag)
    click.echo(f"{len(data)} queries -> {output} ({target})")


COMMANDS = [datasets, import_candidates, export_candidates, convert_run]
