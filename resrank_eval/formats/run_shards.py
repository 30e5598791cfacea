"""A run computed in shards (:mod:`..parallel`): each shard's queries in one file, merged in one-process order.

``RUN.shard-00001-of-00004.jsonl`` holds a header line (shard, shard count, run tag, wall seconds, the
:class:`~resrank_eval.provenance.Provenance` record every shard of one job shares) and
then one line per query: qid, its position in the one-process query order, its final ranking with
exact scores (JSON floats round-trip) and, when a reranker made it, its :class:`QueryStats`. The file
is written atomically once its shard is complete, so its existence means "this shard is done".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, ResrankError
from ..parallel import Shard
from ..types import Candidate, QueryStats, Run
from .atomic import atomic_write
from .jsonl import iter_jsonl

if TYPE_CHECKING:
    from ..provenance import Provenance


@dataclass
class RunShard:
    """One shard's share of a run: its queries' rankings, their positions in the whole run, their cost."""

    shard: Shard
    tag: str
    run: Run
    positions: dict[str, int]
    stats: dict[str, QueryStats] = field(default_factory=dict)
    seconds: float = 0.0
    provenance: dict[str, Any] | None = None

    @classmethod
    def of(cls, shard: Shard, tag: str, run: Run, order: Iterable[str], stats: dict[str, QueryStats] | None = None,
           seconds: float = 0.0, provenance: Provenance | None = None) -> RunShard:
        """``run`` (this shard's queries) placed by ``order``, the one-process query order."""
        positions = {qid: i for i, qid in enumerate(order)}
        return cls(shard, tag, run, {q: positions[q] for q in run}, stats or {}, seconds,
                   provenance.to_dict() if provenance is not None else None)


def shard_done(output: str | Path, shard: Shard, provenance: Provenance, overwrite: bool = False) -> bool:
    """``shard``'s share of ``output`` is written already with ``provenance`` (it only waits for the merge).

    A share made otherwise is an error naming the difference; ``overwrite`` discards it. Never true unsharded.
    """
    part = shard_path(output, shard)
    if shard.whole or not part.is_file():
        return False
    if overwrite:
        part.unlink()
        return False
    provenance.check(read_run_shard(part).provenance, part)
    return True


def shard_path(output: str | Path, shard: Shard) -> Path:
    output = Path(output)
    return output.with_name(f"{output.name}.{shard.label}.jsonl")


def write_run_shard(output: str | Path, part: RunShard) -> Path:
    path = shard_path(output, part.shard)
    header = {"shard": part.shard.id, "num": part.shard.num, "tag": part.tag, "seconds": round(part.seconds, 3),
              "provenance": part.provenance}
    with atomic_write(path) as handle:
        handle.write(json.dumps(header) + "\n")
        for qid, candidates in part.run.items():
            record = {"qid": qid, "position": part.positions[qid], "ranking": [[c.docid, c.score] for c in candidates]}
            if qid in part.stats:
                record["stats"] = part.stats[qid].to_dict()
            handle.write(json.dumps(record) + "\n")
    return path


def read_run_shards(output: str | Path) -> list[RunShard]:
    """Every shard of the run ``output``, in shard order; an error names the shards still missing."""
    output = Path(output)
    paths = sorted(output.parent.glob(f"{output.name}.shard-*-of-*.jsonl"))
    paths = [p for p in paths if not p.name.endswith(".partial.jsonl")]
    if not paths:
        raise ResrankError(f"{output}: no finished shard to merge ({output.name}.shard-*-of-*.jsonl)")
    parts = [read_run_shard(path) for path in paths]
    num = parts[0].shard.num
    missing = sorted(set(range(num)) - {p.shard.id for p in parts if p.shard.num == num})
    if missing or len(parts) != num:
        raise ResrankError(f"{output}: shard(s) {', '.join(map(str, missing)) or '?'} of {num} not finished yet "
                           f"(or shards of another --shard-num lie beside them)")
    if len({p.tag for p in parts}) > 1:
        raise ResrankError(f"{output}: the shards carry different run tags ({', '.join(sorted({p.tag for p in parts}))})")
    odd = next((p for p in parts if p.provenance != parts[0].provenance), None)
    if odd is not None:
        raise ResrankError(f"{shard_path(output, odd.shard)}: made with other arguments or inputs than "
                           f"{shard_path(output, parts[0].shard).name}; run that shard again with --overwrite")
    return parts


def merge_run_shards(parts: list[RunShard]) -> tuple[Run, list[QueryStats]]:
    """The whole run and its stats, both in the one-process query order."""
    order = sorted((p.positions[q], q, p) for p in parts for q in p.run)
    return {q: p.run[q] for _, q, p in order}, [p.stats[q] for _, q, p in order if q in p.stats]


def read_run_shard(path: Path) -> RunShard:
    part: RunShard | None = None
    for lineno, record in iter_jsonl(path):
        try:
            if part is None:
                part = RunShard(Shard(int(record["shard"]), int(record["num"])), str(record["tag"]), {}, {},
                                seconds=float(record["seconds"]), provenance=record.get("provenance"))
                continue
            qid = str(record["qid"])
            part.run[qid] = [Candidate(str(docid), float(score)) for docid, score in record["ranking"]]
            part.positions[qid] = int(record["position"])
            if "stats" in record:
                part.stats[qid] = QueryStats.from_dict(record["stats"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, lineno, f"not a run shard record ({exc})") from None
    if part is None:
        raise InputError(path, 1, "empty run shard")
    return part
