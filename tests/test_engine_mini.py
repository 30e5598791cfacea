"""The fast engine against the eager reference on the shipped ResRank-mini over DL19 BM25 candidates.

Real weights, real prompts (SmolLM2's chat template, 100 placeholders, the query residual, BM25's
scores for score fusion): the fast
scores must equal the eager ones (fp32, |diff| <= 1e-4) and rank identically, at batch 1 and batched,
with and without prefix reuse, with padding buckets, and split into several passes per query.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from resrank_eval.demo import DEMO_MODEL
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model import ResRankModel
from resrank_eval.model.engine import EngineOptions, FastScorer
from resrank_eval.rerank import rerank
from resrank_eval.rerank.resrank import ResRankReranker
from resrank_eval.types import Candidate, Ranking

from .conftest import DL19_CANDIDATES

QUERIES = 3
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mini() -> tuple[ResRankModel, list[str], list[torch.Tensor], list[torch.Tensor], list[Ranking]]:
    model = ResRankModel.from_pretrained(DEMO_MODEL, "cpu", "float32").eval()
    data = read_candidates(DL19_CANDIDATES)
    qids = list(data.run)[:QUERIES]
    rankings = [Ranking(data.topics[q], [Candidate(c.docid, c.score, data.passages[c.docid]) for c in data.run[q]])
                for q in qids]
    with torch.inference_mode():
        vectors = [model.encode_passages([c.text for c in r.candidates]) for r in rankings]  # type: ignore[misc]
    first_stage = [torch.tensor([c.score for c in r.candidates], dtype=torch.float64) for r in rankings]
    return model, [r.query.text for r in rankings], vectors, first_stage, rankings


def check(fast: torch.Tensor, eager: torch.Tensor) -> None:
    assert (fast - eager).abs().max().item() <= 1e-4
    for got, want in zip(fast, eager):
        assert torch.equal(torch.argsort(got, descending=True), torch.argsort(want, descending=True))


@pytest.mark.parametrize("passes", [1, 4])
def test_resrank_mini_fast_equals_eager(mini: tuple, passes: int) -> None:
    model, queries, vectors, first_stage, _ = mini
    original = model.config
    model.config = replace(original, max_candidates_per_pass=100 // passes)
    try:
        with torch.inference_mode():
            batched = model(queries, vectors, first_stage).scores
            single = [model([q], [v], [s]).scores for q, v, s in zip(queries, vectors, first_stage)]
        options = [EngineOptions(), EngineOptions(graphs=True, max_rows=8)]
        if passes == 1:
            options += [EngineOptions(prefix=False), EngineOptions(buckets=True)]
        for option in options:
            scorer = FastScorer(model, option)
            check(scorer(queries, vectors, first_stage).scores, batched)
            for query, block, given, want in zip(queries, vectors, first_stage, single):
                check(scorer([query], [block], [given]).scores, want)
            assert option.prefix == bool(scorer.prefixes) and scorer.prefix_off in (None, "switched off")
    finally:
        model.config = original


def test_resrank_mini_reranker_rankings_identical(mini: tuple) -> None:
    model, _, _, _, rankings = mini
    top = [Ranking(r.query, r.candidates[:30]) for r in rankings[:2]]
    eager = rerank(ResRankReranker(model, engine="eager"), top, batch_size=2)
    fast = rerank(ResRankReranker(model, engine="fast"), top, batch_size=2)
    for a, b in zip(eager, fast):
        assert [c.docid for c in a.candidates] == [c.docid for c in b.candidates]
        assert [c.score for c in a.candidates] == pytest.approx([c.score for c in b.candidates], abs=1e-4)
