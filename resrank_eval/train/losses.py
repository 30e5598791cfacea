"""The two ResRank training objectives as pure torch functions (see ``docs/resrank.md``).

* Retrieval: InfoNCE over cosine similarities of encoder vectors, each query against its positive,
  every other query's passages in the batch and all hard negatives, at temperature ``T`` (0.03).
* Ranking: RankNet over the reranker's cosine scores times ``scale`` (10), summed over every pair
  of candidates whose targets differ and averaged over those pairs.
"""

from __future__ import annotations

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
