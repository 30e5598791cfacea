"""Reranking to files: the run, per-query stats and a summary, with skip-if-exists and resume.

A :class:`RunSink` wraps the in-memory pipeline (:mod:`.pipeline`): finished queries are appended to
``<output>.partial.jsonl`` as their batch completes; a killed job restarted with the same arguments
continues from there, and the final files appear atomically. Both resuming and skipping are keyed
on the rerank's :class:`~resrank_eval.provenance.Provenance` (reranker and options, model files,
top-k, batch size, run tag, the first-stage run and topics by content, the text source, the
version), stored as the partial file's first line and in the summary: a changed argument or input
is refused, naming it, instead of mixing two experiments in one run. Only a torn LAST line of the
partial file (the job was killed mid-write) is dropped, and said so; a bad line anywhere else is an
error, because silently skipping it would rerank that query again under possibly different settings.

A generative reranker's per-call records (:attr:`~.base.Reranked.trace`) travel in the partial file with their
query and end up in ``<output>.trace.jsonl``, one line per model call, in run order.

Sharded (:mod:`..parallel`), each shard resumes from its own partial file and, once complete, writes
its share as a run shard (:mod:`..formats.run_shards`) carrying the same provenance; :func:`merge_run`
then writes the run, stats and summary one process writes, the summary with the world size and each
shard's throughput.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..environment import environment
from ..errors import InputError, ResrankError
from ..formats.atomic import atomic_write
from ..formats.run_shards import RunShard, merge_run_shards, read_run_shards, shard_done, shard_path, write_run_shard
from ..formats.trec import check_tag, write_run
from ..parallel import WHOLE, Shard
from ..provenance import Provenance, record_path, write_record
from ..types import Candidate, Query, QueryStats, Run
from .base import Reranked, Reranker
from .pipeline import Passages, RerankResult, assemble, iter_rerank, summarize, to_rankings

log = logging.getLogger(__name__)

RECORD_KEY = "provenance"
"""The key of the provenance record in the summary and in the partial file's first line."""


@dataclass(frozen=True)
class RerankOutputs:
    """The files next to each other: run, per-query stats (JSONL), summary (JSON), and the work in progress."""

    run: Path
    shard: Shard = WHOLE

    @classmethod
    def for_run(cls, run: str | Path, shard: Shard = WHOLE) -> RerankOutputs:
        return cls(Path(run), shard)

    @property
    def stats(self) -> Path:
        return self.run.with_name(self.run.name + ".stats.jsonl")

    @property
    def summary(self) -> Path:
        return self.run.with_name(self.run.name + ".summary.json")

    @property
    def trace(self) -> Path:
        """One line per model call of a generative reranker (of this shard, until merged: not named like a run shard)."""
        return self.run.with_name(self.run.name + ".trace" + ("" if self.shard.whole else "." + self.shard.label) + ".jsonl")

    @property
    def partial(self) -> Path:
        """Finished queries of a running job (of this shard)."""
        return self.run.with_name(self.run.name + ("" if self.shard.whole else "." + self.shard.label) + ".partial.jsonl")

    @property
    def part(self) -> Path:
        """A shard's finished share (:mod:`..formats.run_shards`); unused by an unsharded job."""
        return shard_path(self.run, self.shard)


class RunSink:
    """Where one rerank's results go: what is finished already, each new result, and the final files.

    ``options`` are the reranker's option values (paths among them -- a model folder, a dense index --
    are identified by content) and ``inputs`` the files the passage texts come from (a corpus, a
    candidate file, an index): both become part of the rerank's provenance. A ``shard`` (the same
    provenance in every shard) reranks its share of the queries into its own run shard.
    """

    def __init__(self, output: str | Path, reranker: str, tag: str | None = None, shard: Shard = WHOLE,
                 options: Mapping[str, Any] | None = None, inputs: Mapping[str, str | Path | None] | None = None) -> None:
        self.outputs = RerankOutputs.for_run(output, shard)
        self.reranker = reranker
        self.tag = check_tag(tag or reranker)
        self.options = dict(options or {})
        self.inputs = dict(inputs or {})
        self._provenance: Provenance | None = None
        self._header_written = False
        self.started = time.perf_counter()

    @property
    def shard(self) -> Shard:
        return self.outputs.shard

    def shard_done(self, provenance: Provenance, overwrite: bool = False) -> bool:
        """This sink's shard is written already with ``provenance`` (see :func:`~resrank_eval.formats.run_shards.shard_done`)."""
        return shard_done(self.outputs.run, self.shard, provenance, overwrite)

    def provenance(self, topics: Mapping[str, Query], run: Run, top_k: int, batch_size: int) -> Provenance:
        """What this rerank is made of (see the module doc); computing it loads no model."""
        arguments = {"reranker": self.reranker, "run_tag": self.tag, "top_k": top_k, "batch_size": batch_size}
        paths = {k: v for k, v in self.options.items() if isinstance(v, (str, Path))}
        arguments.update({k: v for k, v in self.options.items() if k not in paths})
        contents = {"run": {q: [[c.docid, c.score] for c in hits] for q, hits in run.items()},
                    "topics": {q: topics[q].text for q in run if q in topics}}
        return Provenance.of("rerank", arguments, {**paths, **self.inputs, **contents})

    def up_to_date(self, provenance: Provenance, overwrite: bool = False) -> bool:
        """True when the run, stats and summary exist and were made with ``provenance`` (nothing to do).

        Outputs or an unfinished job made otherwise are an error naming the difference (unless
        ``overwrite``); this loads nothing, so a mistake is caught before any model is.
        """
        outputs = [self.outputs.run, self.outputs.stats, self.outputs.summary]
        if provenance.skip(outputs, self.outputs.summary, overwrite, key=RECORD_KEY):
            return True
        if not overwrite and self.outputs.partial.exists():
            recorded, done = read_partial(self.outputs.partial)
            if recorded is not None or done:
                provenance.check(recorded, self.outputs.partial)
        return False

    def start(self, provenance: Provenance, overwrite: bool = False) -> dict[str, Reranked]:
        """The queries an interrupted job with this provenance finished (none with ``overwrite``, which discards them)."""
        self.started = time.perf_counter()
        if overwrite:
            self.outputs.partial.unlink(missing_ok=True)
            self.outputs.part.unlink(missing_ok=True)
        recorded, done = read_partial(self.outputs.partial)
        if recorded is None and not done:
            self.outputs.partial.unlink(missing_ok=True)  # nothing in it but, at most, a torn first line
        else:
            provenance.check(recorded, self.outputs.partial)
            log.info("%s: resuming, %d queries already reranked", self.outputs.partial, len(done))
        self._provenance, self._header_written = provenance, self.outputs.partial.exists()
        self.outputs.run.parent.mkdir(parents=True, exist_ok=True)
        return done

    def add(self, qid: str, result: Reranked) -> None:
        if self._provenance is None:
            raise ResrankError("RunSink.add before RunSink.start")
        record = {"qid": qid, "ranking": [[c.docid, c.score] for c in result.candidates], "stats": result.stats.to_dict()}
        if result.trace:
            record["trace"] = result.trace
        with open(self.outputs.partial, "a", encoding="utf-8") as handle:
            if not self._header_written:  # written with the first result: a job that fails before one leaves no file
                handle.write(json.dumps({RECORD_KEY: self._provenance.to_dict()}) + "\n")
                self._header_written = True
            handle.write(json.dumps(record) + "\n")

    def finish(self, first_stage: Run, done: dict[str, Reranked], top_k: int) -> RerankOutputs:
        """Write run, stats and summary (with the provenance; a shard: its run shard) atomically from every finished
        query; drop the partial file."""
        if self._provenance is None:
            raise ResrankError("RunSink.finish before RunSink.start")
        result = assemble(first_stage, done, top_k)
        if self.shard.whole:
            write_outputs(self.outputs, result, self.tag, {RECORD_KEY: self._provenance.to_dict()})
        else:
            write_run_shard(self.outputs.run, RunShard.of(self.shard, self.tag, result.run, first_stage, {s.qid: s for s in result.stats},
                                                          time.perf_counter() - self.started, self._provenance))
        write_trace(self.outputs.trace, [line for qid in first_stage if qid in done for line in done[qid].trace])
        self.outputs.partial.unlink(missing_ok=True)
        return self.outputs


def write_trace(path: Path, lines: list[dict[str, Any]]) -> None:
    """``lines`` as JSON Lines, atomically; no file (and none left from an earlier run) when there are none."""
    if not lines:
        path.unlink(missing_ok=True)
        return
    with atomic_write(path) as handle:
        handle.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def write_outputs(outputs: RerankOutputs, result: RerankResult, tag: str, extra: dict[str, Any]) -> None:
    """Run, stats and summary (with the environment it ran in and ``extra``: the provenance; merged, the world size and
    each shard's throughput), each atomically."""
    write_run(outputs.run, result.run, tag)
    with atomic_write(outputs.stats) as handle:
        handle.writelines(json.dumps(s.to_dict()) + "\n" for s in result.stats)
    summary = summarize(result.stats)
    with atomic_write(outputs.summary) as handle:
        json.dump(replace(summary, environment=environment(summary.device)).to_dict() | extra, handle, indent=2, allow_nan=False)


def merge_run(output: str | Path) -> RerankOutputs:
    """Merge a sharded rerank's (or dense retrieval's) run shards into the files one process writes; drop the shards.

    """
    parts = read_run_shards(output)
    run, stats = merge_run_shards(parts)
    outputs = RerankOutputs.for_run(output)
    if stats:
        ranks = [{"rank": p.shard.id, "queries": len(p.stats), "queries_per_s": summarize(list(p.stats.values())).queries_per_s if p.stats else None,
                  "wall_s": p.seconds} for p in parts]
        write_outputs(outputs, RerankResult(run, stats), parts[0].tag,
                      {RECORD_KEY: parts[0].provenance, "world_size": len(parts), "ranks": ranks})
    else:  # a dense retrieval's run: its provenance goes beside it, as one process writes it
        write_run(outputs.run, run, parts[0].tag)
        if parts[0].provenance is not None:
            write_record(record_path(output), Provenance.from_dict(parts[0].provenance, shard_path(output, parts[0].shard)))
    traces = [RerankOutputs.for_run(output, part.shard).trace for part in parts]
    if any(t.exists() for t in traces):  # in run order, as one process writes it
        lines = [json.loads(line) for t in traces if t.exists() for line in t.read_text(encoding="utf-8").splitlines()]
        position = {qid: i for i, qid in enumerate(run)}
        write_trace(outputs.trace, sorted(lines, key=lambda line: position[line["qid"]]))
    for part, trace in zip(parts, traces):
        shard_path(output, part.shard).unlink()
        trace.unlink(missing_ok=True)
    return outputs


def rerank_to_files(reranker: Reranker, topics: dict[str, Query], run: Run, passages: Passages | None, sink: RunSink,
                    top_k: int = 100, batch_size: int = 1, overwrite: bool = False) -> RerankOutputs:
    """The in-memory pipeline with ``sink`` around it: skips when up to date, resumes where it stopped, records as it goes.

    A sharded sink reranks the blocks of ``batch_size`` queries its shard owns (each batch as one process batches it).
    """
    if sink.reranker != reranker.name:
        raise ResrankError(f"{sink.outputs.run}: the sink expects reranker {sink.reranker!r}, got {reranker.name!r}")
    if top_k < 1 or batch_size < 1:
        raise ResrankError(f"--top-k and --batch-size must be at least 1, got {top_k} and {batch_size}")
    if not any(run.values()):
        raise ResrankError("nothing to rerank: the run has no query with candidates")
    provenance = sink.provenance(topics, run, top_k, batch_size)
    if sink.up_to_date(provenance, overwrite):
        log.info("%s: up to date (same arguments and inputs), not reranked again", sink.outputs.run)
        return sink.outputs
    if sink.shard_done(provenance, overwrite):
        return sink.outputs
    done = sink.start(provenance, overwrite)
    owned = sink.shard.take([q for q in run if run[q]], batch_size)
    rankings = to_rankings(topics, run, passages, top_k, qids=[q for q in owned if q not in done])
    for ranking, result in iter_rerank(reranker, rankings, batch_size):
        sink.add(ranking.query.qid, result)
        done[ranking.query.qid] = result
    return sink.finish(run, done, top_k)


def read_partial(path: Path) -> tuple[Any, dict[str, Reranked]]:
    """The stored provenance (None without one) and the finished queries of an interrupted job.

    A torn last line is dropped (and logged); any other bad line is an error.
    """
    done: dict[str, Reranked] = {}
    recorded = None
    if not path.exists():
        return recorded, done
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for lineno, line in enumerate(lines, 1):
        try:
            record: Any = json.loads(line)
            if lineno == 1 and isinstance(record, dict) and RECORD_KEY in record:
                recorded = record[RECORD_KEY]
                continue
            qid, result = _parse_partial(record)
        except (ValueError, KeyError, TypeError) as exc:
            if lineno == len(lines) and not line.endswith("\n"):
                log.warning("%s:%d: dropped a torn last line (the job was killed while writing it)", path, lineno)
                break
            raise InputError(path, lineno, f"corrupt resume record ({exc}); fix or delete the file, or pass --overwrite") from None
        done[qid] = result
    return recorded, done


def _parse_partial(record: Any) -> tuple[str, Reranked]:
    candidates = [Candidate(str(docid), float(score)) for docid, score in record["ranking"]]
    return str(record["qid"]), Reranked(candidates, QueryStats.from_dict(record["stats"]), list(record.get("trace", [])))
