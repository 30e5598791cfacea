"""Passage vectors for the reader, computed once per stage (or every N steps) instead of every step.

Encoding is what a CPU step costs: 100 candidates of 128 tokens take ~6 s through MiniLM without
gradients (~19 s with), while the 4-layer reader scores them in ~0.3 s. A stage that does not train
the encoder sees the same vector for a passage at every step, so the trainer encodes every training
and dev passage once when such a stage starts (exact). A stage that trains the encoder while the
ranking loss is detached from it (``ranking_to_encoder: false``) may read vectors re-encoded every
``training.cache_refresh`` steps instead (at most that many steps stale, as ANCE refreshes its
index); those vectors travel in checkpoints, so a resumed run reads exactly what it would have.
Keyed by text, so the same passage under two docids (or two corpora) is one entry.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence

import torch

from ..errors import ResrankError
from ..model import ResRankModel
from .config import StageConfig, TrainingConfig


class VectorCache:
    """text -> passage vector of ``model``'s encoder as it was when :meth:`build` ran."""

    def __init__(self, texts: list[str], vectors: torch.Tensor) -> None:
        self.rows = {text: row for row, text in enumerate(texts)}
        self.vectors = vectors

    @classmethod
    def build(cls, model: ResRankModel, texts: Iterable[str]) -> VectorCache:
        unique = sorted(set(texts))
        was_training = model.training
        model.eval()  # no dropout: the vectors a frozen encoder gives at inference
        with torch.no_grad():
            vectors = model.encode(unique)
        model.train(was_training)
        return cls(unique, vectors)

    def __contains__(self, text: str) -> bool:
        return text in self.rows

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), D], like ``model.encode`` without running the encoder."""
        missing = [text for text in texts if text not in self.rows]
        if missing:
            raise ResrankError(f"passage not in the vector cache: {missing[0][:60]!r}")
        return self.vectors[torch.tensor([self.rows[text] for text in texts], dtype=torch.long)]


def refresh_interval(stage: StageConfig, training: TrainingConfig) -> int | None:
    """``None``: the stage encodes its candidates every step; 0: one exact cache; N: re-encoded every N steps."""
    if not training.cache_vectors:
        return None
    if "encoder" not in stage.train:
        return 0
    if stage.ranking > 0 and not stage.ranking_to_encoder and training.cache_refresh > 0:
        return training.cache_refresh
    return None


class StageCache:
    """The cache of one stage: built before its first step, rebuilt at every ``every``-th step of it."""

    def __init__(self, texts: Iterable[str], every: int) -> None:
        self.texts = sorted(set(texts))
        self.every = every
        self.cache: VectorCache | None = None
        self.built_at: int | None = None

    @property
    def exact(self) -> bool:
        """True when the vectors are the encoder's current ones (it does not train in this stage)."""
        return self.every == 0

    def restore(self, vectors: torch.Tensor) -> None:
        """The vectors a checkpoint saved: those the interrupted run was reading."""
        self.cache = VectorCache(self.texts, vectors)

    def current(self, model: ResRankModel, step_in_stage: int, label: str) -> VectorCache:
        """The vectors to read before this step, (re-)encoding them when due (timed on stderr)."""
        due = self.every and step_in_stage % self.every == 0 and self.built_at != step_in_stage
        if self.cache is None or due:
            started = time.perf_counter()
            self.cache = VectorCache.build(model, self.texts)
            self.built_at = step_in_stage
            print(f"{label}, step {step_in_stage}: {len(self.texts)} passage vectors encoded in "
                  f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        return self.cache

    def state(self) -> torch.Tensor | None:
        """What a checkpoint must keep: refreshed vectors cannot be recomputed from the weights."""
        return None if self.exact or self.cache is None else self.cache.vectors
