"""Finding run files, naming them, and reading the efficiency sidecars ``rerank`` writes.

A run's system label is its TREC run tag (the 6th column), which ``rerank`` sets to the reranker
name by default; its dataset is given explicitly or recognised in the file name (``run.dl19.rankgpt.txt``,
``run.beir-v1.0.0-nfcorpus.bm25.txt``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TypeVar

from ..datasets.registry import DATASETS
from ..errors import InputError, ResrankError
from ..formats.jsonl import iter_jsonl, read_json
from ..formats.schema import build
from ..formats.trec import iter_run_lines, read_run
from ..jobs import check_made
from ..rerank.pipeline import EfficiencySummary, summarize
from ..rerank.sink import RerankOutputs
from ..types import QueryStats, Run

Record = TypeVar("Record")

NOT_RUNS = (".stats.jsonl", ".summary.json", ".partial.jsonl", ".json", ".jsonl", ".md", ".csv", ".tex", ".png", ".pdf", ".html", ".tmp")
"""Files in a runs folder that are sidecars, reports or plots rather than runs."""

SPLITS = ("train", "dev", "test")
"""Split names in run file names, left out of system names: one system, whichever split it ran on."""


@dataclass
class SystemRun:
    """One system's run on one dataset, with its efficiency summary when it was reranked.

    ``path`` is the run file it was read from; None for a run made in memory (``label`` names it).
    """

    path: Path | None
    label: str
    dataset: str
    run: Run
    efficiency: EfficiencySummary | None = None


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Run files named directly, plus every run-looking file (sorted) inside named folders."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(p for p in sorted(path.iterdir())
                         if p.is_file() and not p.name.startswith(".") and not p.name.endswith(NOT_RUNS))
        elif path.is_file():
            files.append(path)
        else:
            raise ResrankError(f"{path}: no such run file or folder")
    if not files:
        raise ResrankError(f"no run files in {', '.join(map(str, paths))}")
    return files


def infer_dataset(path: Path) -> str | None:
    """The benchmark whose name appears as a whole token in the file name (longest match wins)."""
    found = None
    for name in DATASETS:
        short = name.removeprefix("beir/")
        if re.search(rf"(^|[._/-]){re.escape(short)}([._-]|$)", path.name) and (found is None or len(short) > len(found.removeprefix("beir/"))):
            found = name
    return found


def file_system_name(path: Path, dataset: str) -> str:
    """The system part of a Pyserini-style run file name: ``run.dl19.resrank-mini.txt`` -> ``resrank-mini``."""
    name = re.sub(r"\.(txt|trec|run)$", "", path.name.removesuffix(".gz")).removeprefix("run.")
    parts = re.split(r"(?<!\d)\.|\.(?!\d)", name)  # version dots (beir-v1.0.0-nfcorpus) stay inside their part
    short = re.escape(dataset.removeprefix("beir/"))
    kept = [part for part in parts if part not in SPLITS and not re.search(rf"(^|[-_]){short}([-_]|$)", part)]
    return ".".join(kept) or path.name


def run_tag(path: Path) -> str:
    """The run tag of the first line: the label a TREC run gives itself."""
    for _, line in iter_run_lines(path):
        return line.tag
    raise InputError(path, None, "empty run file")


def read_efficiency(path: Path, queries: Collection[str] | None = None) -> EfficiencySummary | None:
    """Summarise ``<run>.stats.jsonl`` (the per-query truth) or fall back to ``<run>.summary.json``.

    The summary's ``environment`` (device name, versions, commit) is kept either way. Given the run's ``queries``, the
    stats must hold exactly their costs (``rerank`` writes one record per query), else the table would show other queries'.
    """
    outputs = RerankOutputs(Path(path))
    saved = None
    if outputs.summary.exists():
        raw = read_json(outputs.summary)
        known = {f.name for f in fields(EfficiencySummary)}  # the provenance, a sharded run's ranks are left out
        saved = _record(EfficiencySummary, {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else raw,
                        outputs.summary, None)
    if outputs.stats.exists():
        stats, lines = [], {}
        for lineno, record in iter_jsonl(outputs.stats):
            stats.append(_record(QueryStats, record, outputs.stats, lineno))
            if stats[-1].qid in lines:
                raise InputError(outputs.stats, lineno, f"query {stats[-1].qid!r} again (first at line {lines[stats[-1].qid]})")
            lines[stats[-1].qid] = lineno
        if not stats:
            return None
        if queries is not None and lines.keys() != set(queries):
            example = next((f"{q} missing" for q in queries if q not in lines), None) or f"{next(q for q in lines if q not in queries)} not in the run"
            raise InputError(outputs.stats, None, f"has the costs of {len(lines)} queries, the run {len(queries)} (e.g. {example})")
        return replace(summarize(stats), environment=saved.environment if saved else None)
    if saved is not None and queries is not None and saved.queries != len(queries):
        raise InputError(outputs.summary, None, f"summarises {saved.queries} queries, the run has {len(queries)}")
    return saved


def _record(cls: type[Record], raw: object, path: Path, line: int | None) -> Record:
    """A summary or a stats line as ``cls``, by the one schema checker (every value of its field's type, numbers finite)
    and none below 0: a cost the table would print as it is, so an edit never becomes a number in it."""
    record = build(cls, raw, path, "", line)
    for name, value in asdict(record).items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise InputError(path, line, f"{name}: expected >= 0, got {value!r}")
    return record


def load_run_file(path: Path, dataset: str | None = None) -> SystemRun:
    """Read a run and its sidecars; ``dataset`` overrides what the file name says."""
    name = dataset or infer_dataset(path)
    if name is None:
        raise ResrankError(f"{path}: cannot tell the dataset from the file name; pass `dataset`")
    sidecars = RerankOutputs(path)
    check_made(path, sidecars.stats, sidecars.summary)
    run = read_run(path)
    return SystemRun(path, run_tag(path), name, run, read_efficiency(path, run))
