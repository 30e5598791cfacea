"""Runs and candidates in and out of the formats others use, each a step of the job layer (:mod:`..jobs`).

``import-candidates`` turns a rank_llm / RankGPT candidate file into a TREC run, a passage store and,
optionally, a topics file; ``export-candidates`` does the reverse from a run and a corpus;
``convert-run`` converts between a TREC run and the MS MARCO leaderboard TSV. The formats themselves
(:mod:`..formats`) only read and write; whether an output is kept, refused or made is the step's say.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from ..errors import ResrankError
from ..formats.candidates import CandidateSet, read_candidates, write_candidates
from ..formats.corpus import corpus_file, load_passages, write_corpus
from ..formats.msmarco import FORMATS, looks_like_msmarco, read_msmarco_run, write_msmarco_run
from ..formats.requests import check_export, is_requests_file, write_requests
from ..formats.topics import write_topics
from ..formats.trec import read_run, write_run
from ..jobs import Outputs, Step
from ..numeric import first_not_decreasing
from ..provenance import Provenance
from ..types import Query, Run

log = logging.getLogger(__name__)


def passage_store(output: str | Path) -> Path:
    """Where an import puts the passage texts by default: ``<output>.passages.jsonl`` (a BEIR corpus JSONL)."""
    return Path(f"{output}.passages.jsonl")


def import_candidates_step(candidates: str | Path, output: str | Path, passages: str | Path | None = None,
                           topics_output: str | Path | None = None, tag: str = "candidates") -> Step[CandidateSet]:
    """A candidate file as a TREC run (``tag``), a passage store (default :func:`passage_store`) and, optionally, a topics TSV."""
    store = Path(passages) if passages else passage_store(output)
    provenance = Provenance.of("import-candidates", {"tag": tag, "topics_output": bool(topics_output)},
                                 {"candidate file": candidates})  # the positional argument, as a difference names it

    def make() -> CandidateSet:
        data = read_candidates(candidates)
        write_run(output, data.run, tag)  # first: the one writer that may refuse what was read (ties at float32's lowest score)
        disordered = [qid for qid, hits in data.run.items() if first_not_decreasing([c.score for c in hits]) is not None]
        if disordered:  # the run keeps the list order, as rank_llm reads it; its scores are lowered to agree (write_run)
            log.warning("%s: %d of %d queries list hits out of score order or tied (as trec_eval's 32-bit floats; e.g. %r); kept in "
                        "list order, their scores lowered to agree", candidates, len(disordered), len(data.run), disordered[0])
        write_corpus(store, data.passages)
        if topics_output:
            write_topics(topics_output, data.topics)
        return data

    return Step(provenance, Outputs.beside(output, store, *([topics_output] if topics_output else [])), make)


def export_candidates_step(output: str | Path, topics: dict[str, Query], run_path: str | Path, corpus: str | Path, hits: int = 100,
                           fmt: str = "auto", sources: Mapping[str, str | Path | None] | None = None) -> Step[Run]:
    """A run's top ``hits`` with their texts from ``corpus`` as RankGPT JSON or rank_llm Request JSONL (``fmt``: ``rankgpt``,
    ``request``, or ``auto``: request for ``*.jsonl``); the step's value is the exported run. ``sources`` names the file
    ``topics`` were read from (``{"topics": path}``: recorded, and ``output`` may not be it)."""
    run = {qid: cands[:hits] for qid, cands in read_run(run_path).items()}
    used = {q: topics[q].text for q in run if q in topics}
    request = fmt == "request" or (fmt == "auto" and is_requests_file(output))
    provenance = Provenance.of("export-candidates", {"hits": hits, "format": "request" if request else "rankgpt"},
                               {"run": run_path, "corpus": corpus_file(corpus), "topics": used}, sources)

    def make() -> Run:
        check_export(output, topics, run)  # before the corpus is scanned (minutes for MS MARCO), not after
        texts = load_passages(corpus, {c.docid for cands in run.values() for c in cands})
        (write_requests if request else write_candidates)(output, topics, run, texts)
        return run

    return Step(provenance, Outputs.beside(output), make)


def convert_run_step(run: str | Path, output: str | Path, to: str = "trec", run_tag: str = "converted") -> Step[Run]:
    """``run`` (TREC or MS MARCO, recognised) written to ``output`` as ``to`` (``run_tag`` in TREC's 6th column)."""
    if to not in FORMATS:
        raise ResrankError(f"unknown run format {to!r}; choose one of {', '.join(FORMATS)}")
    provenance = Provenance.of("convert-run", {"to": to, "run_tag": run_tag if to == "trec" else None},
                                 {"run file": run})  # the positional argument, as a difference names it

    def make() -> Run:
        data = read_msmarco_run(run) if looks_like_msmarco(run) else read_run(run)
        if to == "msmarco":
            write_msmarco_run(output, data)
        else:
            write_run(output, data, run_tag)
        return data

    return Step(provenance, Outputs.beside(output), make)
