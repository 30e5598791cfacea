"""One benchmark as a value: where its topics, qrels and passages come from, and how it is scored.

The base of every dataset (the registry's named benchmarks, a local BEIR directory, ``irds:`` sets);
it knows none of its subclasses, so they import it and the registry imports them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..errors import ResrankError
from ..formats.corpus import load_passages
from ..formats.topics import read_topics
from ..formats.trec import read_qrels
from ..paths import qrels_dir
from ..types import Qrels, Query

BEIR_MEASURES = ("nDCG@10", "R@100", "R@1000")


@dataclass(frozen=True)
class Dataset:
    """One benchmark: where its parts come from and how it is scored."""

    name: str
    topics_file: str | None
    qrels_file: str | None
    rel_level: int
    measures: tuple[str, ...]
    prebuilt_index: str | None
    remove_query: bool
    corpus_dir: Path | None = None
    split: str = "test"

    @property
    def slug(self) -> str:
        """File-name-safe name, used in run file names (``beir/nfcorpus`` -> ``beir-nfcorpus``)."""
        return self.name.replace("/", "-")

    @property
    def read_from(self) -> list[Path]:
        """The files and folders it is read from, which no command may write over."""
        named = [qrels_dir() / name for name in (self.topics_file, self.qrels_file) if name is not None]
        return named + ([self.corpus_dir] if self.corpus_dir is not None else [])

    def topics(self) -> dict[str, Query]:
        if self.topics_file is not None:
            return read_topics(qrels_dir() / self.topics_file)
        if self.corpus_dir is None:
            raise ResrankError(f"dataset {self.name!r} has no topics for split {self.split!r}: pass `topics` (a file) or `corpus` (a local BEIR folder)")
        return beir_queries(self.corpus_dir, self.split)

    def qrels(self) -> Qrels:
        if self.qrels_file is not None:
            return read_qrels(qrels_dir() / self.qrels_file)
        if self.corpus_dir is None:
            raise ResrankError(f"dataset {self.name!r} has no qrels for split {self.split!r}: pass `qrels` (a file) or `corpus` (a local BEIR folder)")
        return read_qrels(beir_qrels_path(self.corpus_dir, self.split))

    @property
    def has_passages(self) -> bool:
        """Whether :meth:`passages` has a source (a local corpus here; ir_datasets for ``irds:`` sets)."""
        return self.corpus_dir is not None

    def passages(self, docids: Collection[str] | None = None) -> dict[str, str]:
        """docid -> passage text from the local corpus (``docids`` only, when given)."""
        if self.corpus_dir is None:
            raise ResrankError(f"dataset {self.name!r} has no local corpus: pass `corpus`, a local BEIR folder")
        return load_passages(self.corpus_dir, docids)

    def sources(self) -> dict[str, str]:
        """Where each part comes from, for ``resrank-eval datasets``."""
        corpus = str(self.corpus_dir) if self.corpus_dir else "--corpus DIR"
        if self.prebuilt_index:
            corpus += f" | prebuilt {self.prebuilt_index} (network)"
        return {
            "topics": f"qrels/{self.topics_file}" if self.topics_file else f"{corpus}/queries.jsonl",
            "qrels": f"qrels/{self.qrels_file}" if self.qrels_file else f"{corpus}/qrels/{self.split}.tsv",
            "corpus": corpus,
        }


def beir_queries(corpus_dir: Path, split: str) -> dict[str, Query]:
    """The queries of a BEIR directory that have judgments in ``split``."""
    queries = read_topics(_first_existing(corpus_dir, "queries.jsonl"))
    judged = read_qrels(beir_qrels_path(corpus_dir, split))
    return {qid: q for qid, q in queries.items() if qid in judged}


def beir_qrels_path(corpus_dir: Path, split: str) -> Path:
    path = corpus_dir / "qrels" / f"{split}.tsv"
    if not path.exists():
        raise ResrankError(f"{path}: no qrels for split {split!r}")
    return path


def _first_existing(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise ResrankError(f"{folder}: neither {name} nor {name}.gz exists")
