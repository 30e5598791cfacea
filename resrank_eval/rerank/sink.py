"""Reranking to files: the run, per-query stats and a summary, with skip-if-exists and resume.

A :class:`RunSink` wraps the in-memory pipeline (:mod:`.pipeline`): finished queries are appended to
``<output>.partial.jsonl`` as their batch completes; a killed job restarted with the same arguments
continues from there, and the final files appear atomically. Only a torn LAST line of the partial
file (the job was killed mid-write) is dropped, and said so; a bad line anywhere else is an error,
because silently skipping it would rerank that query again under possibly different settings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, ResrankError
from ..formats.atomic import atomic_write
from ..formats.trec import check_tag, write_run
from ..types import Candidate, Query, QueryStats, Run
from .base import Reranked, Reranker
from .pipeline import Passages, assemble, iter_rerank, summarize, to_rankings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RerankOutputs:
    """The files next to each other: run, per-query stats (JSONL), summary (JSON), and the work in progress."""

    run: Path

    @classmethod
    def for_run(cls, run: str | Path) -> RerankOutputs:
        return cls(Path(run))

    @property
    def stats(self) -> Path:
        return self.run.with_name(self.run.name + ".stats.jsonl")

    @property
    def summary(self) -> Path:
        return self.run.with_name(self.run.name + ".summary.json")

    @property
    def partial(self) -> Path:
        return self.run.with_name(self.run.name + ".partial.jsonl")


class RunSink:
    """Where one rerank's results go: what is finished already, each new result, and the final files."""

    def __init__(self, output: str | Path, reranker: str, tag: str | None = None) -> None:
        self.outputs = RerankOutputs.for_run(output)
        self.reranker = reranker
        self.tag = check_tag(tag or reranker)

    def start(self, overwrite: bool = False) -> dict[str, Reranked]:
        """The queries an interrupted job finished (none with ``overwrite``, which discards them)."""
        if overwrite:
            self.outputs.partial.unlink(missing_ok=True)
        done = read_partial(self.outputs.partial)
        foreign = {r.stats.reranker for r in done.values()} - {self.reranker}
        if foreign:
            raise ResrankError(f"{self.outputs.partial}: unfinished job of reranker {foreign.pop()!r}; pass --overwrite to start over")
        if done:
            log.info("%s: resuming, %d queries already reranked", self.outputs.partial, len(done))
        self.outputs.run.parent.mkdir(parents=True, exist_ok=True)
        return done

    def add(self, qid: str, result: Reranked) -> None:
        record = {"qid": qid, "ranking": [[c.docid, c.score] for c in result.candidates], "stats": result.stats.to_dict()}
        with open(self.outputs.partial, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def finish(self, first_stage: Run, done: dict[str, Reranked], top_k: int) -> RerankOutputs:
        """Write run, stats and summary atomically from every finished query; drop the partial file."""
        result = assemble(first_stage, done, top_k)
        write_run(self.outputs.run, result.run, self.tag)
        with atomic_write(self.outputs.stats) as handle:
            handle.writelines(json.dumps(s.to_dict()) + "\n" for s in result.stats)
        with atomic_write(self.outputs.summary) as handle:
            json.dump(summarize(result.stats), handle, indent=2, allow_nan=False)
        self.outputs.partial.unlink(missing_ok=True)
        return self.outputs


def rerank_to_files(reranker: Reranker, topics: dict[str, Query], run: Run, passages: Passages | None, sink: RunSink,
                    top_k: int = 100, batch_size: int = 1, overwrite: bool = False) -> RerankOutputs:
    """The in-memory pipeline with ``sink`` around it: resumes where it stopped, and records as it goes."""
    if sink.reranker != reranker.name:
        raise ResrankError(f"{sink.outputs.run}: the sink expects reranker {sink.reranker!r}, got {reranker.name!r}")
    done = sink.start(overwrite)
    rankings = to_rankings(topics, run, passages, top_k, qids=[q for q in run if q not in done])
    for ranking, result in iter_rerank(reranker, rankings, batch_size):
        sink.add(ranking.query.qid, result)
        done[ranking.query.qid] = result
    return sink.finish(run, done, top_k)


def read_partial(path: Path) -> dict[str, Reranked]:
    """Finished queries of an interrupted job; a torn last line is dropped (and logged), any other bad line is an error."""
    done: dict[str, Reranked] = {}
    if not path.exists():
        return done
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for lineno, line in enumerate(lines, 1):
        try:
            qid, result = _parse_partial(line)
        except (ValueError, KeyError, TypeError) as exc:
            if lineno == len(lines) and not line.endswith("\n"):
                log.warning("%s:%d: dropped a torn last line (the job was killed while writing it)", path, lineno)
                break
            raise InputError(path, lineno, f"corrupt resume record ({exc}); fix or delete the file, or pass --overwrite") from None
        done[qid] = result
    return done


def _parse_partial(line: str) -> tuple[str, Reranked]:
    record: Any = json.loads(line)
    candidates = [Candidate(str(docid), float(score)) for docid, score in record["ranking"]]
    return str(record["qid"]), Reranked(candidates, QueryStats.from_dict(record["stats"]))
