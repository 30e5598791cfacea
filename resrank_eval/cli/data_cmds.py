"""``datasets``, ``import-candidates`` and ``export-candidates``: what the benchmarks are made of."""

from __future__ import annotations

from pathlib import Path

import click

from .common import POSITIVE, Writable, checked_tag, overwrite_option, run_step


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
@click.option("--run-tag", "tag", callback=checked_tag, default="candidates", show_default=True, help="Run tag (6th column).")
@overwrite_option
def import_candidates(candidates: str, output: str, passages: str | None, topics_output: str | None, tag: str) -> str:
    """Import candidates (RankGPT JSON, or rank_llm Request/Result JSON or JSONL) into a TREC run plus a passage-text store.

    Existing outputs are kept only when made from the same file and run tag and unchanged since (recorded
    in <output>.provenance.json); anything else is refused, naming what differs.
    """
    from ..datasets.interchange import import_candidates_step, passage_store

    return run_step(import_candidates_step(candidates, output, passages, topics_output, tag),
                    made=lambda data: f"{len(data.run)} queries, {sum(map(len, data.run.values()))} hits -> {output}; "
                                      f"{len(data.passages)} passages -> {passages or passage_store(output)}")


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
def export_candidates(dataset: str | None, topics: str | None, run_path: str, corpus: str, hits: int, output: str, fmt: str) -> str:
    """Export a run plus passage texts to rank_llm candidate files (RankGPT JSON or Request JSONL); kept when made so before."""
    from ..datasets.interchange import export_candidates_step
    from .resolve import resolve_topics

    return run_step(export_candidates_step(output, resolve_topics(dataset, topics), run_path, corpus, hits, fmt, {"topics": topics}),
                    made=lambda run: f"{len(run)} queries -> {Path(output)}")


@click.command("convert-run")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "target", type=click.Choice(["trec", "msmarco"]), required=True, help="Format to write.")
@click.option("--output", required=True, type=Writable(), help="Run file to write.")
@click.option("--run-tag", callback=checked_tag, default="converted", show_default=True, help="Run tag when writing TREC (MS MARCO runs have none).")
@overwrite_option
def convert_run(run: str, target: str, output: str, run_tag: str) -> str:
    """Convert between a TREC run and the MS MARCO leaderboard TSV (qid, docid, rank); the input format is recognised."""
    from ..datasets.interchange import convert_run_step

    return run_step(convert_run_step(run, output, target, run_tag), made=lambda data: f"{len(data)} queries -> {output} "
                                                                                      f"({target})")


COMMANDS = [datasets, import_candidates, export_candidates, convert_run]
