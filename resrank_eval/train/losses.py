"""The two ResRank training objectives as pure torch functions (see ``docs/resrank.md``).

* Retrieval: InfoNCE over cosine similarities of encoder vectors, each query against its positive,
  every other query's passages in the batch and all hard negatives, at temperature ``T`` (0.03).
* Ranking (``losses.ranking``), on the reranker's cosine scores times ``scale`` (10):
  ``ranknet`` (the paper's): every pair of candidates whose targets differ, averaged over pairs;
  ``lambdarank``: the same pairs, each weighted by the nDCG change of swapping the two in the
  current ranking, so the pairs that decide the top of the list dominate (100-candidate lists hold
  thousands of pairs, most of them far below rank 10);
  ``listnet``: cross-entropy between the softmax of the scores and the target gains normalised to
  a distribution (top-one ListNet).
Gains are the targets themselves (linear, as trec_eval's nDCG), so teacher-rank targets work too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def info_nce(
    queries: torch.Tensor,
    passages: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 0.03,
    ignore: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of ``-log softmax(cos(q_b, P) / T)[targets[b]]`` over the batch.

    ``queries`` [B, D]; ``passages`` [P, D], the pool shared by the batch (positives and hard
    negatives of every query); ``targets`` [B], the index of each query's positive in the pool;
    ``ignore`` [B, P] marks pool entries that must not count as negatives for that query (its other
    positives, or duplicates of its positive), since pushing away a relevant passage is label noise.
    """
    logits = F.normalize(queries, dim=-1) @ F.normalize(passages, dim=-1).T / temperature
    if ignore is not None:
        keep = torch.zeros_like(ignore)
        keep[torch.arange(len(targets)), targets] = True
        logits = logits.masked_fill(ignore & ~keep, float("-inf"))
    return F.cross_entropy(logits, targets)


def ranknet(scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor | None = None, scale: float = 10.0) -> torch.Tensor:
    """Mean over ordered pairs (i, j) with ``relevance_i > relevance_j`` of ``log(1 + exp(-scale (s_i - s_j)))``.

    ``scores`` and ``relevance`` are [B, N]; ``mask`` [B, N] marks real candidates (padding is
    False). Every pair with different targets counts once, so a query with more such pairs weighs
    more, as in RankNet; returns 0 (with a graph) when the batch has no pair.
    """
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    diff = scale * (scores.unsqueeze(2) - scores.unsqueeze(1))
    better = (relevance.unsqueeze(2) > relevance.unsqueeze(1)) & mask.unsqueeze(2) & mask.unsqueeze(1)
    if not better.any():
        return scores.sum() * 0.0
    return F.softplus(-diff[better]).mean()


def lambdarank(scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor | None = None, scale: float = 10.0) -> torch.Tensor:
    """RankNet pairs weighted by ``|delta nDCG|`` of swapping them at their current ranks; summed per query, averaged over queries.

    The ranks come from the detached scores; the weight of pair (i, j) is
    ``|g_i - g_j| * |1/log2(1 + rank_i) - 1/log2(1 + rank_j)| / IDCG`` with linear gains ``g``.
    """
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    gains = relevance.masked_fill(~mask, 0.0).clamp(min=0.0)
    order = scores.detach().masked_fill(~mask, float("-inf")).argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(scores.shape[1], device=scores.device).expand_as(order))
    discount = 1.0 / torch.log2(ranks.float() + 2.0)
    ideal = (gains.sort(dim=1, descending=True).values / torch.log2(torch.arange(scores.shape[1], device=scores.device) + 2.0)).sum(1)
    weight = (gains.unsqueeze(2) - gains.unsqueeze(1)).abs() * (discount.unsqueeze(2) - discount.unsqueeze(1)).abs()
    weight = weight / ideal.clamp(min=1e-12).view(-1, 1, 1)
    better = (relevance.unsqueeze(2) > relevance.unsqueeze(1)) & mask.unsqueeze(2) & mask.unsqueeze(1)
    if not better.any():
        return scores.sum() * 0.0
    losses = F.softplus(-scale * (scores.unsqueeze(2) - scores.unsqueeze(1))) * weight * better
    queries = better.flatten(1).any(1)
    return losses.sum(dim=(1, 2))[queries].mean()


def listnet(scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor | None = None, scale: float = 10.0) -> torch.Tensor:
    """``-sum_i p_i log softmax(scale * s)_i`` with ``p`` the gains over their sum; queries without gain are skipped."""
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    gains = relevance.masked_fill(~mask, 0.0).clamp(min=0.0)
    total = gains.sum(1)
    keep = total > 0
    if not keep.any():
        return scores.sum() * 0.0
    log_p = F.log_softmax((scale * scores).masked_fill(~mask, float("-inf")), dim=1)
    target = gains / total.clamp(min=1e-12).unsqueeze(1)
    return -(target * log_p.masked_fill(~mask, 0.0)).sum(1)[keep].mean()


RankingLoss = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", float], torch.Tensor]
RANKING_LOSSES: dict[str, RankingLoss] = {"ranknet": ranknet, "lambdarank": lambdarank, "listnet": listnet}
"""``losses.ranking`` name -> loss function (scores, relevance, mask, scale)."""
