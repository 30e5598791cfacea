"""The ten ResRank benchmarks under stable names, with bundled topics and qrels.

Scoring never needs the network: topics and qrels ship in ``qrels/`` (Anserini's files). Corpora
come from a local BEIR directory (``--corpus``), the bundled NFCorpus, or -- for users with the
network -- a Pyserini prebuilt index.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ResrankError
from ..formats.topics import read_topics
from ..formats.trec import read_qrels
from ..paths import data_dir, qrels_dir
from ..types import Qrels, Query
from .corpus import load_passages

DL19_CANDIDATES = data_dir() / "candidates" / "dl19-bm25-top100.json.gz"
"""rank_llm's DL19 BM25 top-100 with passage texts: the only offline MS MARCO text (read with ``read_candidates``)."""

DL_MEASURES = ("nDCG@10", "AP(rel=2)@1000", "R(rel=2)@100", "R(rel=2)@1000")
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

    def topics(self) -> dict[str, Query]:
        if self.topics_file is not None:
            return read_topics(qrels_dir() / self.topics_file)
        if self.corpus_dir is None:
            raise ResrankError(f"dataset {self.name!r} has no topics: pass --topics FILE or --corpus DIR")
        return beir_queries(self.corpus_dir, self.split)

    def qrels(self) -> Qrels:
        if self.qrels_file is not None:
            return read_qrels(qrels_dir() / self.qrels_file)
        if self.corpus_dir is None:
            raise ResrankError(f"dataset {self.name!r} has no qrels: pass --qrels FILE or --corpus DIR")
        return read_qrels(beir_qrels_path(self.corpus_dir, self.split))

    def passages(self, docids: Collection[str] | None = None) -> dict[str, str]:
        """docid -> passage text from the local corpus (``docids`` only, when given)."""
        if self.corpus_dir is None:
            raise ResrankError(f"dataset {self.name!r} has no local corpus: pass --corpus DIR")
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


def _beir(name: str, corpus_dir: Path | None = None) -> Dataset:
    return Dataset(
        name=f"beir/{name}",
        topics_file=f"topics.beir-v1.0.0-{name}.test.tsv.gz",
        qrels_file=f"qrels.beir-v1.0.0-{name}.test.txt",
        rel_level=1,
        measures=BEIR_MEASURES,
        prebuilt_index=f"beir-v1.0.0-{name}.flat",
        remove_query=True,
        corpus_dir=corpus_dir,
    )


BEIR_NAMES = ("trec-covid", "nfcorpus", "webis-touche2020", "dbpedia-entity", "scifact", "signal1m", "trec-news", "robust04")

DATASETS: dict[str, Dataset] = {
    "dl19": Dataset("dl19", "topics.dl19-passage.txt", "qrels.dl19-passage.txt", 2, DL_MEASURES, "msmarco-v1-passage", False),
    "dl20": Dataset("dl20", "topics.dl20.txt", "qrels.dl20-passage.txt", 2, DL_MEASURES, "msmarco-v1-passage", False),
    **{f"beir/{n}": _beir(n, data_dir() / "beir" / "nfcorpus" if n == "nfcorpus" else None) for n in BEIR_NAMES},
}


def get_dataset(name: str, corpus: str | Path | None = None, split: str = "test") -> Dataset:
    """Resolve a dataset name; with ``corpus`` any name works (a local BEIR directory)."""
    if corpus is not None:
        corpus = Path(corpus)
        if not corpus.is_dir():
            raise ResrankError(f"{corpus}: corpus directory does not exist")
    known = DATASETS.get(name)
    if known is None:
        if corpus is None:
            raise ResrankError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or pass --corpus DIR)")
        return Dataset(name, None, None, 1, BEIR_MEASURES, None, True, corpus, split)
    if split == "test":
        return replace(known, corpus_dir=corpus or known.corpus_dir)
    # Non-test splits (train/dev) are read from the BEIR directory itself.
    return replace(known, topics_file=None, qrels_file=None, corpus_dir=corpus or known.corpus_dir, split=split)
