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
    from ..datasets.corpus import write_corpus
    from ..formats.candidates import read_candidates
    from ..formats.topics import write_topics
    from ..formats.trec import write_run
    from ..provenance import Provenance, record_path, write_record

    passages = passages or f"{output}.passages.jsonl"
    provenance = Provenance.of("import-candidates", {"tag": tag, "topics_output": bool(topics_output)}, {"candidates": candidates})
    outputs = [Path(p) for p in (output, passages, topics_output) if p]
    if provenance.skip(outputs, record_path(output), overwrite):
        return skipping(output)
    data = read_candidates(candidates)
    write_corpus(passages, data.passages)
    if topics_output:
        write_topics(topics_output, data.topics)
    write_run(output, data.run, tag)
    write_record(record_path(output), provenance)
    click.echo(f"{len(data.run)} queries, {sum(map(len, data.run.values()))} hits -> {output}; {len(data.passages)} passages -> {passages}")


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
    from ..datasets.corpus import corpus_file, load_passages
    from ..formats.candidates import write_candidates
    from ..formats.requests import is_requests_file, write_requests
    from ..formats.trec import read_run
    from ..provenance import Provenance, record_path, write_record
    from .resolve import resolve_topics

    query_texts = resolve_topics(dataset, topics)
    run = {qid: cands[:hits] for qid, cands in read_run(run_path).items()}
    used = {q: query_texts[q].text for q in run if q in query_texts}
    request = fmt == "request" or (fmt == "auto" and is_requests_file(output))
    provenance = Provenance.of("export-candidates", {"hits": hits, "format": "request" if request else "rankgpt"},
                               {"run": run_path, "corpus": corpus_file(corpus), "topics": used})
    if provenance.skip([Path(output)], record_path(output), overwrite):
        return skipping(output)
    texts = load_passages(corpus, {c.docid for cands in run.values() for c in cands})
    (write_requests if request else write_candidates)(output, query_texts, run, texts)
    write_record(record_path(output), provenance)
    click.echo(f"{len(run)} queries -> {Path(output)}")


@click.command("convert-run")
@click.argument("run", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "target", type=click.Choice(["trec", "msmarco"]), required=True, help="Format to write.")
@click.option("--output", required=True, type=Writable(), help="Run file to write.")
@click.option("--run-tag", default="converted", show_default=True, help="Run tag when writing TREC (MS MARCO runs have none).")
@overwrite_option
def convert_run(run: str, target: str, output: str, run_tag: str, overwrite: bool) -> None:
    """Convert between a TREC run and the MS MARCO leaderboard TSV (qid, docid, rank); the input format is recognised."""
    from ..formats.msmarco import looks_like_msmarco, read_msmarco_run, write_msmarco_run
    from ..formats.trec import read_run, write_run
    from ..provenance import Provenance, record_path, write_record

    provenance = Provenance.of("convert-run", {"to": target, "run_tag": run_tag if target == "trec" else None}, {"run": run})
    if provenance.skip([Path(output)], record_path(output), overwrite):
        return skipping(output)
    data = read_msmarco_run(run) if looks_like_msmarco(run) else read_run(run)
    if target == "msmarco":
        write_msmarco_run(output, data)
    else:
        write_run(output, data, run_tag)
    write_record(record_path(output), provenance)
    click.echo(f"{len(data)} queries -> {output} ({target})")

COMMANDS = [datasets, import_candidates, export_candidates, convert_run]
