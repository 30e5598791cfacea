"""The model's one scoring path against the plain reference on the shipped ResRank-mini over DL19 BM25 candidates.

Real weights, real prompts (SmolLM2's chat template, 100 placeholders, the query residual, BM25's
scores for score fusion): the path's scores must equal the reference's (fp32, |diff| <= 1e-4) and rank
identically, at batch 1 and batched, with and without prefix reuse, with padding buckets and the graph
shapes, and split into several passes per query; ``rank()`` and the reranker give the same order.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from resrank_eval.demo import DEMO_MODEL
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model import ResRankModel, Scoring
from resrank_eval.rerank import rerank
from resrank_eval.rerank.resrank import ResRankReranker
from resrank_eval.types import Candidate, Ranking
from tests.helpers import DL19_CANDIDATES
from tests.reference import reference

QUERIES = 3
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mini() -> tuple[ResRankModel, list[str], list[torch.Tensor], list[torch.Tensor], list[Ranking]]:
    model = ResRankModel.from_pretrained(DEMO_MODEL, "cpu", "float32")
    data = read_candidates(DL19_CANDIDATES)
    qids = list(data.run)[:QUERIES]
    rankings = [Ranking(data.topics[q], [Candidate(c.docid, c.score, data.passages[c.docid]) for c in data.run[q]])
                for q in qids]
    with torch.inference_mode():
        vectors = [model.encode([c.text for c in r.candidates]) for r in rankings]  # type: ignore[misc]
    first_stage = [torch.tensor([c.score for c in r.candidates], dtype=torch.float64) for r in rankings]
    return model, [r.query.text for r in rankings], vectors, first_stage, rankings


def check(fast: torch.Tensor, eager: torch.Tensor) -> None:
    assert (fast - eager).abs().max().item() <= 1e-4
    for got, want in zip(fast, eager):
        assert torch.equal(torch.argsort(got, descending=True), torch.argsort(want, descending=True))


@pytest.mark.parametrize("passes", [1, 4])
def test_resrank_mini_scores_equal_the_reference(mini: tuple, passes: int) -> None:
    model, queries, vectors, first_stage, _ = mini
    original = model.config
    model.config = replace(original, max_candidates_per_pass=100 // passes)
    try:
        with torch.inference_mode():
            batched = reference(model, queries, vectors, first_stage).scores
            single = [reference(model, [q], [v], [s]).scores for q, v, s in zip(queries, vectors, first_stage)]
        options = [{}, {"graphs": True, "max_rows": 8}] + ([{"prefix": False}, {"buckets": True}] if passes == 1 else [])
        for option in options:
            model.scoring = Scoring(**option)  # type: ignore[arg-type]
            with torch.inference_mode():
                check(model(queries, vectors, first_stage).scores, batched)
                for query, block, given, want in zip(queries, vectors, first_stage, single):
                    check(model([query], [block], [given]).scores, want)
            assert option.get("prefix", True) == bool(model.scoring.prefixes) and model.scoring.prefix_off in (None, "switched off")
    finally:
        model.config, model.scoring = original, Scoring()


def test_resrank_mini_rank_and_reranker_order_alike(mini: tuple) -> None:
    model, _, _, _, rankings = mini
    top = [Ranking(r.query, r.candidates[:30]) for r in rankings[:2]]
    for ranking, result in zip(top, rerank(ResRankReranker(model), top, batch_size=2)):
        ranked = model.rank(ranking.query.text, [c.text for c in ranking.candidates],
                            first_stage_scores=[c.score for c in ranking.candidates])
        assert [c.docid for c in result.candidates] == [ranking.candidates[r["corpus_id"]].docid for r in ranked]
        assert [c.score for c in result.candidates] == pytest.approx([r["score"] for r in ranked], abs=1e-4)
