"""Reranking to files: the run, per-query stats and a summary, made as one step of the job layer.

:func:`rerank_step` is what ``rerank``, the demo and every grid cell that reranks run: a
:class:`~resrank_eval.jobs.ShardedStep` whose units are the queries. Each query is appended to the
results log as its batch finishes (its final ranking, tail included, and its cost), so a killed job
resumes where it stopped. The provenance is the reranker and its options (a model folder or a dense
index by content), top-k, batch size, run tag, torch's intra-op thread count, the first-stage run and
topics by content and the passage-text source: kept outputs and a resumed log match all of them.
Sharded (:mod:`..parallel`), each shard reranks the blocks of queries it owns into its own log, and
the merge writes what one process writes, the summary adding the world size and each shard's throughput.
A generative reranker's per-call records (:attr:`~.base.Reranked.trace`) travel in the log with their
query and end up in ``<output>.trace.jsonl``, one line per model call, in run order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from ..environment import environment
from ..errors import ResrankError, check_count
from ..formats.atomic import atomic_write
from ..formats.results_log import ResultsLog
from ..formats.trec import check_tag, write_run
from ..jobs import Merge, Outputs, ShardedStep, logged_run, rank_queries, units
from ..parallel import computing_on, intra_op_threads
from ..provenance import Provenance
from ..types import Candidate, Query, QueryStats, Run
from .pipeline import TOP_K, Passages, iter_rerank, passage_texts, summarize, to_rankings, with_tail
from .registry import RerankerFactory


@dataclass(frozen=True)
class RerankOutputs:
    """The files next to each other: run, per-query stats (JSONL) and summary (JSON)."""

    run: Path

    @property
    def stats(self) -> Path:
        return self.run.with_name(self.run.name + ".stats.jsonl")

    @property
    def summary(self) -> Path:
        return self.run.with_name(self.run.name + ".summary.json")

    @property
    def trace(self) -> Path:
        """One line per model call of a generative reranker (none for others)."""
        return self.run.with_name(self.run.name + ".trace.jsonl")

    @property
    def outputs(self) -> Outputs:
        return Outputs.beside(self.run, self.stats, self.summary, optional=(self.trace,))


def rerank_step(factory: RerankerFactory, topics: Mapping[str, Query], run: Run, passages: Passages | None, output: str | Path,
                top_k: int = TOP_K, batch_size: int = 1, tag: str | None = None, threads: int | None = None,
                texts: Mapping[str, str | Path] | None = None, sources: Mapping[str, str | Path | None] | None = None
               ) -> ShardedStep[RerankOutputs]:
    """The rerank of ``run``'s top ``top_k`` into ``output``; ``texts`` names where ``passages`` come from (an option name:
    ``corpus``, ``candidates`` or ``index``), ``sources`` the files ``run`` and ``topics`` were read from (by those names:
    recorded, and no output may be one), ``threads`` is torch's intra-op thread count (default: what it is now).

    Nothing loads until the step makes something: the reranker is built by ``factory`` after the queries' topics and
    passage texts are read, so a mistake in either costs no model load.
    """
    check_count(top_k, "top_k")
    check_count(batch_size, "batch_size")
    if not any(run.values()):
        raise ResrankError("nothing to rerank: the run has no query with candidates")
    tag = check_tag(tag or factory.cls.name)
    threads = intra_op_threads() if threads is None else threads
    arguments = {"reranker": factory.cls.name, "run_tag": tag, "top_k": top_k, "batch_size": batch_size, "threads": threads}
    paths = {k: v for k, v in factory.options.items() if isinstance(v, (str, Path))}
    arguments.update({k: v for k, v in factory.options.items() if k not in paths})
    contents = {"run": {q: [[c.docid, c.score] for c in hits] for q, hits in run.items()},
                "topics": {q: topics[q].text for q in run if q in topics}}
    provenance = Provenance.of("rerank", arguments, {**paths, **(texts or {}), **contents}, sources)
    if passages is not None:  # before anything is written or loaded
        heads = {c.docid for hits in run.values() for c in hits[:top_k]}
        factory.cls.check_passages(factory.options, texts or {}, heads, partial(passage_texts, passages))

    def rerank(qids: list[str]) -> Iterator[tuple[str, list[Candidate], dict[str, Any]]]:
        rankings = to_rankings(topics, run, passages, top_k, qids=qids)  # read before the model loads
        with computing_on(threads):
            for ranking, result in iter_rerank(factory.build(), rankings, batch_size, checked=True):  # checked above
                extra = {"stats": result.stats.to_dict(), **({"trace": result.trace} if result.trace else {})}
                yield ranking.query.qid, with_tail(result, run[ranking.query.qid], top_k), extra

    def logged(unit: dict[str, Any]) -> None:
        """Raise unless ``unit`` is what this rerank logs: its query's candidates reordered, and its cost."""
        if sorted(docid for docid, _ in unit["ranking"]) != sorted(c.docid for c in run[unit["qid"]]):
            raise ValueError("other candidates than the run's")
        QueryStats.from_dict(unit["stats"])

    work = partial(rank_queries, qids=[q for q in run if run[q]], batch_size=batch_size, rank=rerank, check=logged)
    return ShardedStep(provenance, work, rerank_merge(output))


def rerank_merge(output: str | Path) -> Merge[RerankOutputs]:
    """How the logs the shards of a rerank (``--shard-id/--shard-num``) completed become the files one process writes
    (:class:`~resrank_eval.jobs.Merge`: what lies there is kept or refused as a step keeps or refuses it)."""
    outputs = RerankOutputs(Path(output))
    return Merge(outputs.run, outputs.outputs, partial(_publish, outputs))


def _publish(outputs: RerankOutputs, logs: list[ResultsLog]) -> RerankOutputs:
    """Run, stats, summary (with the environment it ran in) and trace from the shards' logs, in one-process query order;
    with more than one shard, the summary adds the world size and each shard's throughput."""
    entries = units(logs)
    run = logged_run(entries)
    stats = [QueryStats.from_dict(u["stats"]) for u in entries]
    extra: dict[str, Any] = {}
    if len(logs) > 1:
        extra = {"world_size": len(logs), "ranks": [
            {"rank": r.header["shard"], "queries": len(r.units),
             "queries_per_s": summarize([QueryStats.from_dict(u["stats"]) for u in r.units]).queries_per_s if r.units else None,
             "wall_s": (r.end or {}).get("seconds")} for r in logs]}
    write_run(outputs.run, run, logs[0].header["provenance"]["arguments"]["run_tag"])
    with atomic_write(outputs.stats) as handle:
        handle.writelines(json.dumps(s.to_dict()) + "\n" for s in stats)
    summary = summarize(stats)
    with atomic_write(outputs.summary) as handle:
        json.dump(replace(summary, environment=environment(summary.device)).to_dict() | extra, handle, indent=2, allow_nan=False)
    traces = [line for u in entries for line in u.get("trace", ())]
    outputs.trace.unlink(missing_ok=True)  # this step's own earlier trace, whatever made it: a run without calls has none
    if traces:
        with atomic_write(outputs.trace) as handle:
            handle.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in traces)
    return outputs

