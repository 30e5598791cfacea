"""Run any reranker over a first-stage run: top-k cut, text lookup, resume, run + stats output.

Output is a valid TREC run: each query's reranked top-k (strictly decreasing scores) followed by
the rest of the first-stage list in its original order, so R@1000 stays comparable with the
first stage. Finished queries are appended to ``<output>.partial.jsonl`` as they complete; a killed
job restarted with the same arguments continues from there, and the final files appear atomically.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import ResrankError
from ..formats.atomic import atomic_write
from ..formats.trec import check_tag, strictly_decreasing, write_run
from ..types import Candidate, Query, QueryStats, Ranking, Run
from .base import Reranked, Reranker

PassageLookup = Callable[[Collection[str]], dict[str, str]]


@dataclass(frozen=True)
class RerankOutputs:
    """The three files next to each other: run, per-query stats (JSONL) and summary (JSON)."""

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


def rerank_run(
    reranker: Reranker,
    topics: dict[str, Query],
    run: Run,
    passages: PassageLookup,
    output: str | Path,
    top_k: int = 100,
    batch_size: int = 1,
    tag: str | None = None,
) -> RerankOutputs:
    """Rerank the top ``top_k`` of every query in ``run`` and write run, stats and summary.

    ``tag`` is the run tag (6th column), the system's label in reports; it defaults to the reranker name.
    """
    if top_k < 1:
        raise ResrankError(f"--top-k must be at least 1, got {top_k}")
    tag = check_tag(tag or reranker.name)
    missing = [qid for qid in run if qid not in topics]
    if missing:
        raise ResrankError(f"{len(missing)} run queries have no topic text (e.g. {missing[0]!r}); check --dataset/--topics")
    outputs = RerankOutputs.for_run(output)
    done = _load_partial(outputs.partial)
    foreign = {r.stats.reranker for r in done.values()} - {reranker.name}
    if foreign:
        raise ResrankError(f"{outputs.partial}: unfinished job of reranker {foreign.pop()!r}; pass --overwrite to start over")
    todo = [qid for qid in run if qid not in done and run[qid]]
    texts = passages({c.docid for qid in todo for c in run[qid][:top_k]})
    with open(outputs.partial, "a", encoding="utf-8") as partial, tqdm(
        total=len(todo), desc=f"rerank ({reranker.name})", unit="query", leave=False
    ) as progress:
        for start in range(0, len(todo), batch_size):
            batch = [_ranking(topics[qid], run[qid][:top_k], texts) for qid in todo[start : start + batch_size]]
            results = reranker.rerank(batch)
            for ranking, result in zip(batch, results):
                _check_result(ranking, result, reranker.name)
                done[ranking.query.qid] = result
                partial.write(json.dumps(_partial_record(ranking.query.qid, result)) + "\n")
            partial.flush()
            progress.update(len(batch))
    final = {qid: _merge(done[qid].candidates, cands[top_k:]) for qid, cands in run.items() if qid in done}
    write_run(outputs.run, final, tag)
    stats = [done[qid].stats for qid in final]
    with atomic_write(outputs.stats) as handle:
        handle.writelines(json.dumps(s.to_dict()) + "\n" for s in stats)
    with atomic_write(outputs.summary) as handle:
        json.dump(summarize(stats), handle, indent=2)
    outputs.partial.unlink()
    return outputs


def _ranking(query: Query, candidates: list[Candidate], texts: dict[str, str]) -> Ranking:
    return Ranking(query, [Candidate(c.docid, c.score, texts[c.docid]) for c in candidates])


def _check_result(ranking: Ranking, result: Reranked, name: str) -> None:
    """A reranker may only reorder: same docids in, same docids out."""
    if sorted(c.docid for c in result.candidates) != sorted(ranking.docids):
        raise ResrankError(f"reranker {name!r} changed the candidate set of query {ranking.query.qid!r}")


def _merge(reranked: list[Candidate], tail: list[Candidate]) -> list[Candidate]:
    """Top-k with their (strictly decreasing) scores, then the untouched tail scored below them."""
    scores = strictly_decreasing([c.score for c in reranked])
    head = [Candidate(c.docid, s) for c, s in zip(reranked, scores)]
    floor = scores[-1] if scores else 0.0
    return head + [Candidate(c.docid, floor - 1.0 - j) for j, c in enumerate(tail)]


def _partial_record(qid: str, result: Reranked) -> dict[str, Any]:
    return {"qid": qid, "ranking": [[c.docid, c.score] for c in result.candidates], "stats": result.stats.to_dict()}


def _load_partial(path: Path) -> dict[str, Reranked]:
    """Finished queries of an interrupted job; a torn last line (killed mid-write) is dropped."""
    done: dict[str, Reranked] = {}
    if not path.exists():
        return done
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            candidates = [Candidate(docid, float(score)) for docid, score in record["ranking"]]
            done[record["qid"]] = Reranked(candidates, QueryStats.from_dict(record["stats"]))
    return done


def summarize(stats: list[QueryStats]) -> dict[str, Any]:
    """Latency percentiles, throughput and token counts per query, for reports and papers."""
    if not stats:
        return {"queries": 0}
    total = [s.total_ms for s in stats]
    n = len(stats)
    return {
        "reranker": stats[0].reranker,
        "queries": n,
        "device": stats[0].device,
        "dtype": stats[0].dtype,
        "batch_size": stats[0].batch_size,
        "latency_ms_p50": statistics.median(total),
        "latency_ms_p95": _percentile(total, 95),
        "latency_ms_mean": statistics.fmean(total),
        "encode_ms_mean": statistics.fmean(s.encode_ms for s in stats),
        "rerank_ms_mean": statistics.fmean(s.rerank_ms for s in stats),
        "queries_per_s": 1000.0 * n / sum(total) if sum(total) > 0 else float("inf"),
        "candidates_per_query": statistics.fmean(s.candidates for s in stats),
        "encoder_tokens_per_query": statistics.fmean(s.encoder_tokens for s in stats),
        "reranker_input_tokens_per_query": statistics.fmean(s.reranker_input_tokens for s in stats),
        "generated_tokens_per_query": statistics.fmean(s.generated_tokens for s in stats),
        "forward_passes_per_query": statistics.fmean(s.forward_passes for s in stats),
    }


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without importing numpy."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
