"""``datasets``, ``import-candidates`` and ``export-candidates``: what the benchmarks are made of."""

from __future__ import annotations

from pathlib import Path

import click

from .common import POSITIVE, Writable, overwrite_option, skipping


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
@click.option("--output", required=True, type=Writable(), help="TREC run to write.")
@click.option("--passages", type=Writable(), default=None, help="Passage store (BEIR corpus JSONL); default: <output>.passages.jsonl.")
@click.option("--topics-output", type=Writable(), default=None, help="Also write the queries as a TSV topic file.")
@click.option("--tag", default="candidates", show_default=True, help="Run tag.")
@overwrite_option
def import_candidates(candidates: str, output: str, passages: str | None, topics_output: str | None, tag: str, overwrite: bool) -> None:
    """Import candidates (RankGPT JSON, or rank_llm Request/Result JSON or JSONL) into a TREC run plus a passage-text store.

    Existing outputs are kept only when all exist and were made from the same file and tag (recorded
    in <output>.provenance.json); anything else is refused, naming what differs.
    """
    from ..formats.candidates import import_candidates as import_files
    from ..formats.candidates import passage_store

    data = import_files(candidates, output, passages, topics_output, tag, overwrite)
    if data is None:
        return skipping(output)
    click.echo(f"{len(data.run)} queries, {sum(map(len, data.run.values()))} hits -> {output}; {len(data.passages)} passages -> "
               f"{passages or passage_store(output)}")


@click.command("export-candidates")
@click.option("--dataset", default=None, help="Benchmark whose topics give the query text.")
@click.option("--topics", type=click.Path(exists=True, dir_okay=False), default=None, help="Topic file (TSV or queries.jsonl) instead of --dataset.")
@click.option("--run", "run_path", required=True, type=click.Path(exists=True, dir_okay=False), help="TREC run to export.")
@click.option("--corpus", required=True, type=click.Path(exists=True), help="BEIR corpus dir or JSONL holding the passage texts.")
@click.option("--hits", type=POSITIVE, default=100, show_default=True, help="Candidates per query to export.")
@click.option("--output", required=True, type=Writable(), help="Candidate file to write.")
@click.option("--format", "fmt", type=click.Choice(["auto", "rankgpt", "request"]), default="auto", show_default=True,
              help="RankGPT JSON ({query, hits}) or rank_llm Request JSONL ({query: {text, qid}, candidates}); auto: request for *.jsonl.")
@overwrite_option
def export_candidates(dataset: str | None, topics: str | None, run_path: str, corpus: str, hits: int, output: str, fmt: str,
                      overwrite: bool) -> None:
    """Export a run plus passage texts to rank_llm candidate files (RankGPT JSON or Request JSONL); kept when made so before."""
    from ..formats.candidates import export_candidates as export_files
    from .resolve import resolve_topics

    run = export_files(output, resolve_topics(dataset, topics), run_path, corpus, hits, fmt, overwrite)
    if run is None:
        return skipping(output)
    click.echo(f"{len(run)} queries -> {Path(output)}")


@click.command("convert-run")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "target", type=click.Choice(["trec", "msmarco"]), required=True, help="Format to write.")
@click.option("--output", required=True, type=Writable(), help="Run file to write.")
@click.option("--run-tag", default="converted", show_default=True, help="Run tag when writing TREC (MS MARCO runs have none).")
@overwrite_option
def convert_run(run: str, target: str, output: str, run_tag: str, overwrite: bool) -> None:
    """Convert between a TREC run and the MS MARCO leaderboard TSV (qid, docid, rank); the input format is recognised."""
    from ..formats.msmarco import convert_run as convert

    data = convert(run, output, target, run_tag, overwrite)
    if data is None:
        return skipping(output)
    click.echo(f"{len(data)} queries -> {output} ({target})")


COMMANDS = [datasets, import_candidates, export_candidates, convert_run]
