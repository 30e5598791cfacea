"""One forward of both training tasks on a batch, as a module so DDP can wrap it.

The passages are encoded once, with gradients when the encoder trains; the same vectors are the
contrastive pool and the reranker's injected tokens. Whether the ranking loss reaches the encoder
is a ``detach`` away: stage 1 detaches (the reranker learns to read a moving encoder), stage 2
does not (RankNet gradients flow through the reranker into the encoder: end-to-end).
"""

from __future__ import annotations

import torch
from torch import nn

from ..model import ResRankModel
from .batches import Batch
from .config import LossConfig, StageConfig
from .losses import info_nce, ranknet


class Objective(nn.Module):
    def __init__(self, model: ResRankModel, losses: LossConfig, hard_negatives: int) -> None:
        super().__init__()
        self.model = model
        self.losses = losses
        self.hard_negatives = hard_negatives

    def forward(self, batch: Batch, stage: StageConfig) -> dict[str, torch.Tensor]:
        """``loss`` (weighted sum) plus each task's unweighted loss, for the log."""
        trains_encoder = "encoder" in stage.train
        flat = [text for texts in batch.texts for text in texts]
        with torch.set_grad_enabled(trains_encoder and torch.is_grad_enabled()):
            vectors = self.model.encode_passages(flat)
        lists = list(vectors.split([len(texts) for texts in batch.texts]))
        out: dict[str, torch.Tensor] = {}
        if stage.contrastive > 0 and trains_encoder:
            out["contrastive"] = self._contrastive(batch, lists)
        if stage.ranking > 0:
            ranked = lists if stage.ranking_to_encoder else [v.detach() for v in lists]
            out["ranking"] = self._ranking(batch, ranked)
        weights = {"contrastive": stage.contrastive, "ranking": stage.ranking}
        out["loss"] = sum(weights[name] * value for name, value in out.items())
        return out

    def _contrastive(self, batch: Batch, lists: list[torch.Tensor]) -> torch.Tensor:
        """InfoNCE: each query against its positive, its hard negatives and everyone else's."""
        pool: list[torch.Tensor] = []
        pool_ids: list[str] = []
        targets = []
        for b, vectors in enumerate(lists):
            negatives = [i for i, d in enumerate(batch.docids[b]) if d not in batch.positives[b]][: self.hard_negatives]
            targets.append(len(pool_ids))
            for i in [batch.targets[b], *negatives]:
                pool.append(vectors[i])
                pool_ids.append(batch.docids[b][i])
        ignore = torch.tensor([[d in positives for d in pool_ids] for positives in batch.positives])
        queries = self.model.encode_queries(batch.queries)
        device = queries.device
        return info_nce(queries, torch.stack(pool), torch.tensor(targets, device=device),
                        self.losses.temperature, ignore.to(device))

    def _ranking(self, batch: Batch, lists: list[torch.Tensor]) -> torch.Tensor:
        """RankNet on the reranker's cosines (its scaled scores divided back) times the loss scale."""
        scores = self.model.score(batch.queries, lists) / self.model.config.score_scale
        width = scores.shape[1]
        relevance = torch.tensor([r + [0.0] * (width - len(r)) for r in batch.relevance], device=scores.device)
        mask = torch.tensor([[i < len(r) for i in range(width)] for r in batch.relevance], device=scores.device)
        return ranknet(scores.masked_fill(~mask, 0.0), relevance, mask, self.losses.scale)
