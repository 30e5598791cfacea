"""The ten ResRank benchmarks under stable names, with bundled topics and qrels.

Scoring never needs the network: topics and qrels ship in ``qrels/`` (Anserini's files). Corpora
come from a local BEIR directory (``--corpus``), the bundled NFCorpus, or -- for users with the
network -- a Pyserini prebuilt index.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from ..errors import ResrankError
from ..formats.ids import check_component
from ..paths import data_dir
from .dataset import BEIR_MEASURES, Dataset
from .irds import IrdsDataset

DL19_CANDIDATES = data_dir() / "candidates" / "dl19-bm25-top100.json.gz"
"""rank_llm's DL19 BM25 top-100 with passage texts: the only offline MS MARCO text (read with ``read_candidates``)."""

DL_MEASURES = ("nDCG@10", "AP(rel=2)@1000", "R(rel=2)@100", "R(rel=2)@1000")


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


def check_dataset_name(name: str) -> None:
    """A name becomes one file or folder name with its '/' as '-' (``beir/nfcorpus`` -> ``beir-nfcorpus``), so each part
    must be a file name of its own: ``../evil`` would become ``..-evil``, ``beir/.x`` a hidden ``beir-.x``."""
    with suppress(ValueError):  # check_component: a backslash, control characters
        if all(part and not part.startswith(".") for part in name.split("/")) and check_component(name.replace("/", "-"), ""):
            return
    raise ResrankError(f"dataset name {name!r} cannot be part of a file name (each '/'-separated part one name: not empty, "
                       "not starting with '.', no '\\' or control characters)")


def get_dataset(name: str, corpus: str | Path | None = None, split: str = "test") -> Dataset:
    """Resolve a dataset name; with ``corpus`` any name works (a local BEIR directory); ``irds:NAME`` reads ir_datasets."""
    try:
        check_component(split, "split")
    except ValueError as exc:
        raise ResrankError(str(exc)) from None
    check_dataset_name(name)
    if name.startswith("irds:"):
        return IrdsDataset.named(name, split)
    if corpus is not None:
        corpus = Path(corpus)
        if not corpus.is_dir():
            raise ResrankError(f"{corpus}: corpus directory does not exist")
    known = DATASETS.get(name)
    if known is None:
        if corpus is None:
            raise ResrankError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or pass `corpus`, a local BEIR folder)")
        return Dataset(name, None, None, 1, BEIR_MEASURES, None, True, corpus, split)
    if split == "test":
        return replace(known, corpus_dir=corpus or known.corpus_dir)
    # Non-test splits (train/dev) are read from the BEIR directory itself.
    return replace(known, topics_file=None, qrels_file=None, corpus_dir=corpus or known.corpus_dir, split=split)
