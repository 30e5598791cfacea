"""One forward of both training tasks on a batch, as a module so DDP can wrap it.

Whether the ranking loss reaches the encoder decides what is encoded with gradients: stage 2
(``ranking_to_encoder``) encodes every candidate under grad and the contrastive task shares those
vectors (RankNet gradients flow through the reranker into the encoder: end-to-end); otherwise the
contrastive task encodes only its own pool (positive + hard negatives) under grad and the reranker
reads detached vectors computed without dropout (what it reads at inference) -- from the
frozen-encoder cache (:mod:`.vectors`) when the stage has one.
"""

from __future__ import annotations

import torch
from torch import nn

from ..model import ResRankModel
from .batches import Batch
from .config import LossConfig, StageConfig
from .losses import RANKING_LOSSES, info_nce
from .vectors import VectorCache


class Objective(nn.Module):
    def __init__(self, model: ResRankModel, losses: LossConfig, hard_negatives: int) -> None:
        super().__init__()
        self.model = model
        self.losses = losses
        self.hard_negatives = hard_negatives
        self.cache: VectorCache | None = None
        """Set by the trainer for stages that leave the encoder frozen."""

    def forward(self, batch: Batch, stage: StageConfig) -> dict[str, torch.Tensor]:
        """``loss`` (weighted sum) plus each task's unweighted loss, for the log."""
        trains_encoder = "encoder" in stage.train
        lists = None
        if stage.ranking > 0 and stage.ranking_to_encoder and trains_encoder:
            lists = self._encode(batch, grad=True)
        out: dict[str, torch.Tensor] = {}
        if stage.contrastive > 0 and trains_encoder:
            out["contrastive"] = self._contrastive(batch, lists)
        if stage.ranking > 0:
            if lists is None:
                lists = self._encode(batch, grad=False)
            out["ranking"] = self._ranking(batch, lists)
        weights = {"contrastive": stage.contrastive, "ranking": stage.ranking}
        out["loss"] = sum(weights[name] * value for name, value in out.items())
        return out

    def _encode(self, batch: Batch, grad: bool) -> list[torch.Tensor]:
        """Every candidate's vector, one [n, D] tensor per query."""
        flat = [text for texts in batch.texts for text in texts]
        if grad:
            vectors = self.model.encode(flat)
        elif self.cache is not None:
            vectors = self.cache.encode(flat).to(self.model.device)
        else:  # the vectors the reranker reads at inference: no dropout, as in the cache
            encoder = self.model.encoder
            was_training = encoder.training
            encoder.eval()
            with torch.no_grad():
                vectors = self.model.encode(flat)
            encoder.train(was_training)
        return list(vectors.split([len(texts) for texts in batch.texts]))

    def _contrastive(self, batch: Batch, lists: list[torch.Tensor] | None) -> torch.Tensor:
        """InfoNCE: each query against its positive, its hard negatives and everyone else's."""
        chosen: list[tuple[int, int]] = []
        targets = []
        for b, docids in enumerate(batch.docids):
            negatives = [i for i, d in enumerate(docids) if d not in batch.positives[b]][: self.hard_negatives]
            targets.append(len(chosen))
            chosen.extend((b, i) for i in [batch.targets[b], *negatives])
        if lists is not None:
            pool = torch.stack([lists[b][i] for b, i in chosen])
        else:
            pool = self.model.encode([batch.texts[b][i] for b, i in chosen])
        pool_ids = [batch.docids[b][i] for b, i in chosen]
        ignore = torch.tensor([[d in positives for d in pool_ids] for positives in batch.positives])
        queries = self.model.encode(batch.queries, queries=True)
        device = queries.device
        return info_nce(queries, pool, torch.tensor(targets, device=device), self.losses.temperature,
                        ignore.to(device))

    def _ranking(self, batch: Batch, lists: list[torch.Tensor]) -> torch.Tensor:
        """The configured listwise loss on the reranker's cosines (scaled scores divided back) times the loss scale."""
        first_stage = [torch.tensor(s, dtype=torch.float64) for s in batch.first_stage] if batch.first_stage else None
        scores = self.model(batch.queries, lists, first_stage).scores / self.model.config.score_scale
        width = scores.shape[1]
        relevance = torch.tensor([r + [0.0] * (width - len(r)) for r in batch.relevance], device=scores.device)
        mask = torch.tensor([[i < len(r) for i in range(width)] for r in batch.relevance], device=scores.device)
        loss = RANKING_LOSSES[self.losses.ranking]
        return loss(scores.masked_fill(~mask, 0.0), relevance, mask, self.losses.scale)
