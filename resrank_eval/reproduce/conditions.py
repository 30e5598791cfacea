"""A conditions file (Pyserini 2CR style): datasets x conditions -> runs, the table, and the pinned scores.

::

    title: ResRank-mini, offline
    output: runs/offline                 # the leaderboard folder (relative to the working directory)
    baseline: bm25                       # what significance is tested against
    datasets:
      - name: beir/nfcorpus              # a registered benchmark (its bundled or --corpus copy) ...
      - name: cranfield                  # ... or any BEIR directory under any name
        corpus: ../data/cranfield-beir
      - name: dl19                       # no corpus here: its BM25 run is rank_llm's candidate file
        first_stages: {bm25: "{data}/candidates/dl19-bm25-top100.json.gz"}
    conditions:
      - name: bm25
        first_stage: {method: bm25, hits: 1000}
      - name: bm25.resrank-mini          # a reranker reads another condition's run
        first_stage: bm25
        rerank: {reranker: resrank, top_k: 100, batch_size: 4, options: {model: "{data}/models/resrank-mini", dense_index: auto}}
    expected:                            # pinned scores, written by `reproduce FILE --pin`
      bm25:
        beir/nfcorpus: {"nDCG@10": 0.3218}

Paths in the file (corpora, first-stage files, models) may use ``{data}`` (the bundled data), ``~``
and ``$VARS``, and are relative to the file's folder when they exist there. Every mistake is an
error at ``file:line`` before anything runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets.dataset import Dataset
from ..errors import InputError, ResrankError
from ..formats.trec import LEADERBOARD_HITS
from ..paths import data_dir
from ..rerank.pipeline import TOP_K
from ..retrieve.fusion import FUSION_METHODS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
"""A condition name is a run tag and part of a file name: one word of letters, digits and ``. _ + -``."""

METHODS = ("bm25", "dense", "fusion", "imported")
AUTO = "auto"
"""``dense_index: auto``: the dataset's corpus encoded once by the reranker's encoder (none without a local corpus)."""


@dataclass
class DatasetSpec:
    """A column of the table: a registered benchmark, or any BEIR directory (``corpus``) under any name."""

    name: str = ""
    corpus: str | None = None
    split: str = "test"
    first_stages: dict[str, str] = field(default_factory=dict)
    """Precomputed first stages by name (candidate JSON/JSONL or a TREC / MS MARCO run): ``bm25`` here replaces retrieval."""


@dataclass
class FirstStage:
    """How a condition's run is made: BM25, dense retrieval, fusion of other conditions, or an imported file."""

    method: str = field(default="bm25", metadata={"choices": METHODS})
    hits: int = field(default=LEADERBOARD_HITS, metadata={"min": 1})
    model: str | None = None
    batch_size: int = field(default=64, metadata={"min": 1})
    source: str | None = None
    runs: list[str] = field(default_factory=list)
    fusion: str = field(default="rrf", metadata={"choices": FUSION_METHODS})
    weights: list[float] | None = None
    k: float | None = None
    depth: int = field(default=LEADERBOARD_HITS, metadata={"min": 1})


@dataclass
class RerankSpec:
    """A registered reranker over the first stage's top-k; ``options`` are its options (``model``, ``dense_index``, ...)."""

    reranker: str = ""
    top_k: int = field(default=TOP_K, metadata={"min": 1})
    batch_size: int = field(default=1, metadata={"min": 1})
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConditionSpec:
    """A row of the table; ``first_stage`` is a recipe, or the name of the condition whose run ``rerank`` reads."""

    name: str = ""
    first_stage: Any = None  # FirstStage | str: a recipe (a mapping, checked by :func:`load_grid`) or a condition name
    rerank: RerankSpec | None = None
    datasets: list[str] | None = None
    label: str | None = None

    @property
    def reads(self) -> list[str]:
        """The conditions whose runs this one needs."""
        if isinstance(self.first_stage, str):
            return [self.first_stage]
        return list(self.first_stage.runs) if self.first_stage.method == "fusion" else []


@dataclass
class ConditionsFile:
    title: str = ""
    output: str = "runs/reproduce"
    baseline: str | None = None
    measure: str = "nDCG@10"
    tolerance: float = field(default=0.0005, metadata={"min": 0})
    threads: int = field(default=2, metadata={"min": 1})
    datasets: list[DatasetSpec] = field(default_factory=list)
    conditions: list[ConditionSpec] = field(default_factory=list)
    expected: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


@dataclass
class Grid:
    """A checked conditions file: datasets resolved, conditions in dependency order, paths expanded."""

    path: Path
    spec: ConditionsFile
    datasets: dict[str, Dataset]
    conditions: dict[str, ConditionSpec]
    lines: dict[str, int | None] = field(default_factory=dict)
    """The line of each condition's recipe (its ``rerank``, else its ``first_stage``), for errors found after loading."""

    def cells(self, conditions: list[str] | None = None, datasets: list[str] | None = None) -> list[tuple[ConditionSpec, Dataset]]:
        """(condition, dataset) pairs to run, dependencies first; a filter keeps what the chosen cells read."""
        for name in conditions or ():
            if name not in self.conditions:
                raise ResrankError(f"{self.path}: no condition {name!r}; known: {', '.join(self.conditions)}")
        for name in datasets or ():
            if name not in self.datasets:
                raise ResrankError(f"{self.path}: no dataset {name!r}; known: {', '.join(self.datasets)}")
        wanted = set(conditions or self.conditions)
        for name in list(self.conditions)[::-1]:  # reverse dependency order: readers before what they read
            if name in wanted:
                wanted.update(self.conditions[name].reads)
        return [(c, self.datasets[d]) for c in self.conditions.values() if c.name in wanted
                for d in (c.datasets or self.datasets) if not datasets or d in datasets]

    def first_stage_file(self, dataset: str, key: str) -> str | None:
        return next((s.first_stages.get(key) for s in self.spec.datasets if s.name == dataset), None)


def expand(value: str) -> str:
    """``{data}``, ``~`` and ``$VARS`` in a path-like value."""
    return os.path.expanduser(os.path.expandvars(value.replace("{data}", str(data_dir()))))


def local_path(value: str, base: Path, path: Path, line: int | None, must_exist: bool = False) -> str:
    """An expanded value, made absolute against the file's folder when it names something there."""
    expanded = expand(value)
    candidate = Path(expanded) if Path(expanded).is_absolute() else base / expanded
    if candidate.exists():
        return str(candidate)
    if must_exist:
        raise InputError(path, line, f"{value}: does not exist (relative paths are read from {base})")
    return expanded


