"""Real-weights check: the ResRank encoder alone (all-MiniLM-L6-v2) reranking the DL19 BM25 top-100.

Proves pooling, normalisation, truncation and the reranker plumbing against an independently
measured nDCG@10 of about 0.642. About 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import pytest

from resrank_eval.datasets import get_dataset
from resrank_eval.evaluate import evaluate
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model import ResRankConfig
from resrank_eval.model.resrank import build_encoder
from resrank_eval.model.sources import minilm_path
from resrank_eval.rerank import rerank_run
from resrank_eval.rerank.resrank import EncoderReranker
from tests.helpers import DL19_CANDIDATES


@pytest.mark.slow
def test_minilm_encoder_reranks_dl19() -> None:
    candidates = read_candidates(DL19_CANDIDATES)
    config = ResRankConfig(encoder=minilm_path(), reranker="unused", pooling="mean", max_passage_tokens=256)
    reranker = EncoderReranker(build_encoder(config, "cpu", "float32", batch_size=64))
    result = rerank_run(reranker, candidates.topics, candidates.run, candidates.passages, top_k=100, batch_size=4)
    ndcg = evaluate(result.run, get_dataset("dl19").qrels(), ["nDCG@10"]).mean["nDCG@10"]
    print(f"DL19 MiniLM encoder nDCG@10 = {ndcg:.4f}")
    assert ndcg >= 0.63
    stats = result.stats[0]
    assert stats.candidates == 100 and stats.encoder_tokens > 100 and stats.generated_tokens == 0
