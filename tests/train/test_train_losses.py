"""Each training loss against a hand computation on numbers small enough to check on paper."""

from __future__ import annotations

import math

import torch

from resrank_eval.train.losses import RANKING_LOSSES, info_nce, lambdarank, listnet, ranknet


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


def test_lambdarank_weights_each_pair_by_its_ndcg_swap() -> None:
    scores = torch.tensor([[0.5, 0.1, 0.3]])  # current ranking: 0, 2, 1
    relevance = torch.tensor([[2.0, 0.0, 1.0]])
    d = [1 / math.log2(2), 1 / math.log2(4), 1 / math.log2(3)]  # discount at each candidate's rank
    ideal = 2 * d[0] + 1 * 1 / math.log2(3)
    pairs = [(0, 1), (0, 2), (2, 1)]
    gains = [2.0, 0.0, 1.0]
    expected = sum(abs(gains[i] - gains[j]) * abs(d[i] - d[j]) / ideal
                   * math.log1p(math.exp(-10 * (scores[0, i].item() - scores[0, j].item()))) for i, j in pairs)
    assert math.isclose(lambdarank(scores, relevance).item(), expected, rel_tol=1e-5)


def test_lambdarank_ignores_padding_and_queries_without_pairs() -> None:
    scores = torch.tensor([[0.2, 0.9, 7.0], [0.1, 0.2, 0.3]])
    relevance = torch.tensor([[0.0, 1.0, 5.0], [1.0, 1.0, 1.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    # query 0: one pair (1 over 0), already in order; ranks 1 and 2, ideal DCG 1; query 1 has no pair
    expected = (1 - 1 / math.log2(3)) * math.log1p(math.exp(-10 * 0.7))
    assert math.isclose(lambdarank(scores, relevance, mask).item(), expected, rel_tol=1e-5)
    assert lambdarank(scores, torch.ones_like(scores), mask).item() == 0.0


def test_listnet_is_cross_entropy_against_the_normalised_gains() -> None:
    scores = torch.tensor([[0.5, 0.1, 0.3, 9.0]])
    relevance = torch.tensor([[2.0, 0.0, 1.0, 4.0]])
    mask = torch.tensor([[True, True, True, False]])
    logits = [5.0, 1.0, 3.0]
    log_z = math.log(sum(math.exp(x) for x in logits))
    expected = -(2 / 3 * (logits[0] - log_z) + 1 / 3 * (logits[2] - log_z))
    assert math.isclose(listnet(scores, relevance, mask).item(), expected, rel_tol=1e-6)
    assert listnet(scores, torch.zeros_like(scores), mask).item() == 0.0


def test_the_config_names_every_ranking_loss() -> None:
    from dataclasses import fields

    from resrank_eval.train.config import LossConfig

    choices = next(f for f in fields(LossConfig) if f.name == "ranking").metadata["choices"]
    assert set(choices) == set(RANKING_LOSSES)
