"""Each training loss against a hand computation on numbers small enough to check on paper."""

from __future__ import annotations

import math

import torch

from resrank_eval.train.losses import info_nce, ranknet


def test_ranknet_matches_hand_computation() -> None:
    scores = torch.tensor([[0.5, 0.1, 0.3]])
    relevance = torch.tensor([[2.0, 0.0, 1.0]])
    # pairs (better, worse): (0,1), (0,2), (2,1); loss = log(1 + exp(-10 (s_better - s_worse)))
    expected = (math.log1p(math.exp(-4.0)) + math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-2.0))) / 3
    assert math.isclose(ranknet(scores, relevance, scale=10.0).item(), expected, rel_tol=1e-6)


def test_ranknet_ignores_ties_and_padding() -> None:
    scores = torch.tensor([[0.2, 0.9, 0.4, 7.0]])
    relevance = torch.tensor([[1.0, 1.0, 0.0, 5.0]])
    mask = torch.tensor([[True, True, True, False]])
    # the tie (0,1) and every pair with the padded slot 3 are skipped: pairs (0,2), (1,2)
    expected = (math.log1p(math.exp(-10 * (0.2 - 0.4))) + math.log1p(math.exp(-10 * (0.9 - 0.4)))) / 2
    assert math.isclose(ranknet(scores, relevance, mask).item(), expected, rel_tol=1e-6)
    no_pairs = ranknet(scores, torch.ones_like(scores), mask)
    assert no_pairs.item() == 0.0


def test_info_nce_matches_hand_computation() -> None:
    queries = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    passages = torch.tensor([[1.0, 1.0], [0.0, 1.0], [3.0, 0.0]])  # cosines computed below
    targets = torch.tensor([0, 1])
    t = 0.5
    c = 1 / math.sqrt(2)
    cos = [[c, 0.0, 1.0], [c, 1.0, 0.0]]

    def nll(row: list[float], target: int) -> float:
        logits = [x / t for x in row]
        return -(logits[target] - math.log(sum(math.exp(x) for x in logits)))

    expected = (nll(cos[0], 0) + nll(cos[1], 1)) / 2
    assert math.isclose(info_nce(queries, passages, targets, t).item(), expected, rel_tol=1e-6)
    # masking query 0's other positive (passage 2) removes it from its denominator only
    ignore = torch.tensor([[False, False, True], [False, False, False]])
    masked = (nll(cos[0][:2], 0) + nll(cos[1], 1)) / 2
    assert math.isclose(info_nce(queries, passages, targets, t, ignore).item(), masked, rel_tol=1e-6)
