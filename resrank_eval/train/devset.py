"""Model selection on a dev split: rerank its first-stage top-k with the model, score nDCG@10.

The same measurement also scores the encoder alone (cosine of query and passage vectors), so the
log shows whether the reranker adds anything over its own encoder -- the comparison the paper's
claim rests on. Both go through the library's rerank pipeline with the dev passages encoded once
and lent to both rerankers. Test qrels are never read here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..datasets import get_dataset
from ..errors import InputError, ResrankError
from ..evaluate.metrics import evaluate
from ..formats.trec import read_run
from ..model import ResRankModel
from ..rerank.pipeline import rerank_run
from ..rerank.resrank import EncoderReranker, ResRankReranker
from ..types import Qrels, Query, Run
from .build import sample_queries
from .config import DevConfig
from .data import TrainExample

MEASURE = "nDCG@10"


@dataclass
class DevSet:
    topics: dict[str, Query]
    qrels: Qrels
    run: Run
    passages: dict[str, str]
    top_k: int

    @classmethod
    def load(cls, config: DevConfig) -> DevSet:
        if config.split == "test":
            raise ResrankError("dev.split: model selection on the test split is not allowed")
        dataset = get_dataset(config.dataset, config.corpus, config.split)
        if not dataset.has_passages:
            raise ResrankError(f"dev: dataset {config.dataset!r} has no local corpus; set dev.corpus")
        qrels, run = dataset.qrels(), read_run(config.run)
        qids = sorted(q for q in run if q in qrels)
        if not qids:
            raise ResrankError(f"{config.run}: no query of the run is judged in split {config.split!r}")
        qids = sample_queries(qids, config.max_queries, 0)
        run = {q: run[q] for q in qids}
        docids = {c.docid for q in qids for c in run[q][: config.top_k]}
        topics = dataset.topics()
        return cls({q: topics[q] for q in qids}, {q: qrels[q] for q in qids}, run, dataset.passages(docids), config.top_k)

    def check_unseen(self, examples: Iterable[TrainExample], source: str | Path) -> None:
        """Selecting on queries the model trains on rewards memorising them: training data holding a dev query (its id and
        text; an id alone may be another dataset's query) is refused."""
        seen = sorted(e.qid for e in examples if e.qid in self.topics and self.topics[e.qid].text == e.query)
        if seen:
            raise InputError(source, None, f"holds dev queries ({len(seen)}, e.g. {seen[0]!r}); model selection on queries the "
                             "model trains on is not allowed")

    def score(self, model: ResRankModel, batch_size: int = 8,
              encode: Callable[[list[str]], torch.Tensor] | None = None) -> dict[str, float]:
        """nDCG@10 of the first stage, the encoder's cosine rerank and the full model's rerank.

        ``encode`` supplies passage vectors in place of ``model.encode`` (a frozen encoder's cache).
        """
        was_training = model.training
        model.eval()
        with torch.no_grad():
            docids = sorted(self.passages)
            vectors = dict(zip(docids, (encode or model.encode)([self.passages[d] for d in docids])))
        scores = {"first_stage": self._ndcg(self.run)}
        for name, reranker in (("encoder", EncoderReranker(model.encoder, vectors)), ("model", ResRankReranker(model, vectors))):
            # no passage texts: every vector is lent
            scores[name] = self._ndcg(rerank_run(reranker, self.topics, self.run, top_k=self.top_k, batch_size=batch_size).run)
        model.train(was_training)
        return scores

    def _ndcg(self, run: Run) -> float:
        return evaluate(run, self.qrels, [MEASURE]).mean[MEASURE]
