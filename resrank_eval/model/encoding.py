"""Online encoding on the engine's principles: static shapes, no needless mask, CUDA graphs.

:meth:`Encoder.embed` already sorts texts by length into batches and backs off on OOM; this replaces
its per-batch forward. A causal encoder (decoder attention, e.g. Qwen3-Embedding) reads a right-padded
batch without an attention mask: no real token attends to a later pad, and SDPA can take its causal
(flash) kernel instead of a masked one; this is checked once against the masked forward. On CUDA,
lengths are padded to buckets and batch sizes to powers of two, one graph per shape (``graphs``).
Vectors keep the model's dtype until pooling (bf16 by default on a GPU), as the eager path does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from .encoder import Encoder, padded
from .graphs import GraphRunner, batch_bucket, length_bucket, relative_error, tolerance

log = logging.getLogger(__name__)


def is_causal(model: Any) -> bool:
    """Every attention module declares causal attention (and the config does not switch it off)."""
    flags = [m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    return bool(flags) and all(flags) and getattr(model.config, "is_causal", True) is not False


class FastEncoding:
    """A batch forward for :meth:`Encoder.embed` (``encoder.embed(ids, FastEncoding(encoder).forward)``)."""

    def __init__(self, encoder: Encoder, graphs: bool | None = None) -> None:
        self.encoder = encoder
        self.causal = is_causal(encoder.model)
        self.checked = not self.causal
        cuda = encoder.device.type == "cuda"
        self.tolerance = tolerance(next(encoder.model.parameters()).dtype)
        self.graphs = GraphRunner(self.tolerance) if (cuda if graphs is None else graphs) else None

    def forward(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        from .engine import stage

        encoder = self.encoder
        longest = max(len(seq) for seq in batch)
        rows, width = (batch_bucket(len(batch), encoder.batch_size), length_bucket(longest)) if self.graphs \
            else (len(batch), longest)
        ids, mask = (stage(x, encoder.device) for x in padded(batch, encoder.pad_id, rows, width))
        if not self.checked and width > min(len(seq) for seq in batch):
            self._check(ids, mask)
        if self.graphs is not None:
            return self.graphs.run((rows, width), self._pooled, (ids, mask))[:len(batch)]
        return self._pooled(ids, mask)[:len(batch)]

    def _pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder.pooled(ids, mask, None if self.causal else mask)

    def _check(self, ids: torch.Tensor, mask: torch.Tensor) -> None:
        """Once, on a padded batch: the unmasked forward must give the masked forward's vectors."""
        self.checked = True
        error = relative_error(self._pooled(ids, mask), self.encoder.pooled(ids, mask, mask))
        if not error <= self.tolerance:
            log.warning("encoder: unmasked forward differs by %.3g relative; keeping the attention mask", error)
            self.causal = False

