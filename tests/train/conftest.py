"""The training tests' shared fixtures: a small training file of real NFCorpus train queries, a small NFCorpus dev run."""

from __future__ import annotations

from pathlib import Path

import pytest

from resrank_eval.datasets import get_dataset
from resrank_eval.formats.corpus import load_passages
from resrank_eval.formats.trec import write_run
from resrank_eval.train.data import TrainExample, TrainPassage, write_examples
from resrank_eval.types import Candidate
from tests.helpers import TRAIN_QUERIES


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real NFCorpus train queries: 2 judged positives each, 6 negatives judged for other queries."""
    dataset = get_dataset("beir/nfcorpus", split="train")
    qrels, topics = dataset.qrels(), dataset.topics()
    qids = sorted(q for q in qrels if len(qrels[q]) >= 2)[: TRAIN_QUERIES * 2]
    mine, others = qids[:TRAIN_QUERIES], qids[TRAIN_QUERIES:]
    wanted = {q: sorted(qrels[q])[:2] for q in mine}
    negatives = [d for q in others for d in sorted(qrels[q])[:2] if all(d not in qrels[m] for m in mine)][:6]
    passages = load_passages(dataset.corpus_dir, {d for ds in wanted.values() for d in ds} | set(negatives))
    examples = [
        TrainExample(q, topics[q].text, tuple(TrainPassage(d, passages[d][:300], label=int(d in wanted[q]))
                                             for d in wanted[q] + negatives), tuple(wanted[q]))
        for q in mine
    ]
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    write_examples(path, examples)
    return path


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small first-stage run of NFCorpus dev: 6 judged queries, each with its judged passages and 6 others."""
    dataset = get_dataset("beir/nfcorpus", split="dev")
    qrels = dataset.qrels()
    qids = sorted(qrels)[:6]
    others = sorted({d for q in sorted(qrels)[6:12] for d in qrels[q]})[:6]
    run = {q: [Candidate(d, float(-i)) for i, d in enumerate(sorted(qrels[q])[:4] + others)] for q in qids}
    path = tmp_path_factory.mktemp("dev") / "dev.txt"
    write_run(path, run, "dev")
    return path
