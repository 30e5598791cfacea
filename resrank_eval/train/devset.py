"""Model selection on a dev split: rerank its first-stage top-k with the model, score nDCG@10.

The same measurement also scores the encoder alone (cosine of query and passage vectors), so the
log shows whether the reranker adds anything over its own encoder -- the comparison the paper's
claim rests on. Test qrels are never read here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..datasets import get_dataset
from ..datasets.corpus import load_passages
from ..errors import ResrankError
from ..evaluate.metrics import evaluate
from ..formats.trec import read_run
from ..model import ResRankModel
from ..types import Candidate, Qrels, Query, Run
from .config import DevConfig

MEASURE = "nDCG@10"


@dataclass
class DevSet:
    topics: dict[str, Query]
    qrels: Qrels
    run: Run
    passages: dict[str, str]
    top_k: int

    @classmethod
    def load(cls, config: DevConfig) -> "DevSet":
        if config.split == "test":
            raise ResrankError("dev.split: model selection on the test split is not allowed")
        dataset = get_dataset(config.dataset, config.corpus, config.split)
        if dataset.corpus_dir is None:
            raise ResrankError(f"dev: dataset {config.dataset!r} has no local corpus; set dev.corpus")
        qrels, run = dataset.qrels(), read_run(config.run)
        qids = sorted(q for q in run if q in qrels)
        if not qids:
            raise ResrankError(f"{config.run}: no query of the run is judged in split {config.split!r}")
        if config.max_queries is not None and len(qids) > config.max_queries:
            qids = sorted(random.Random(0).sample(qids, config.max_queries))
        run = {q: run[q] for q in qids}
        docids = {c.docid for q in qids for c in run[q][: config.top_k]}
        topics = dataset.topics()
        return cls({q: topics[q] for q in qids}, {q: qrels[q] for q in qids}, run,
                   load_passages(dataset.corpus_dir, docids), config.top_k)

    def score(self, model: ResRankModel, batch_size: int = 8,
              encode: Callable[[list[str]], torch.Tensor] | None = None) -> dict[str, float]:
        """nDCG@10 of the first stage, the encoder's cosine rerank and the full model's rerank.

        ``encode`` supplies passage vectors in place of ``model.encode_passages`` (a frozen encoder's cache).
        """
        was_training = model.training
        model.eval()
        with torch.no_grad():
            docids = sorted(self.passages)
            vectors = (encode or model.encode_passages)([self.passages[d] for d in docids]).to(model.device)
            row = {d: i for i, d in enumerate(docids)}
            qids = list(self.topics)
            encoder_run: Run = {}
            model_run: Run = {}
            for start in range(0, len(qids), batch_size):
                chunk = qids[start:start + batch_size]
                lists = [vectors[[row[c.docid] for c in self.run[q][: self.top_k]]] for q in chunk]
                texts = [self.topics[q].text for q in chunk]
                queries = model.encode_queries(texts).unsqueeze(1)
                cosines = torch.nn.functional.cosine_similarity(queries, torch.stack(_pad(lists)), dim=-1)
                scores = model.score(texts, lists)
                for i, q in enumerate(chunk):
                    encoder_run[q] = self._reorder(q, cosines[i])
                    model_run[q] = self._reorder(q, scores[i])
        model.train(was_training)
        return {
            "first_stage": self._ndcg(self.run),
            "encoder": self._ndcg(encoder_run),
            "model": self._ndcg(model_run),
        }

    def _reorder(self, qid: str, scores: torch.Tensor) -> list[Candidate]:
        """The top-k by score, then the rest of the first-stage list in its order."""
        head = self.run[qid][: self.top_k]
        values = scores[: len(head)].tolist()
        ranked = sorted(zip(values, head), key=lambda pair: -pair[0])
        return [Candidate(c.docid, s) for s, c in ranked] + self.run[qid][self.top_k:]

    def _ndcg(self, run: Run) -> float:
        return evaluate(run, self.qrels, [MEASURE]).mean[MEASURE]


def _pad(lists: list[torch.Tensor]) -> list[torch.Tensor]:
    width = max(len(v) for v in lists)
    return [torch.cat([v, v.new_zeros(width - len(v), v.shape[1])]) for v in lists]
