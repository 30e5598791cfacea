"""The ResRank forward on static-shaped tensors, optionally after a cached instruction prefix.

Everything data-dependent (prompt lengths, slot positions, candidate counts) arrives as index tensors,
so one shape serves every batch of that size and the function can be captured in a CUDA graph or
compiled. The maths is :meth:`ResRankModel.forward`'s, op for op: the injector, placeholder embeddings
replaced by :meth:`ResRankModel.slot_inputs` (a gather and a select here, so padding slots write nothing),
hidden states after the final norm, residual, cosine in float32, ``score_scale``.

Prefix reuse: the prompt up to the first passage slot is the same for every query, and under causal
attention its keys and values do not depend on what follows. :class:`PrefixKV` runs it once; each
forward then feeds only the rest, with the prefix's keys and values in a transformers ``Cache``,
explicit positions and an explicit 4D mask (so transformers' own mask logic, which inspects tensor
values, never runs inside a graph).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

if TYPE_CHECKING:
    from .resrank import ResRankModel


def cache_argument(decoder: Any) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` during 5.x; accept both."""
    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


class PrefixKV:
    """The shared prefix's keys and values (batch 1), computed once for frozen weights."""

    def __init__(self, model: ResRankModel, ids: list[int]) -> None:
        self.ids = tuple(ids)
        self.argument = cache_argument(model.reranker)
        cache = DynamicCache()
        model.reranker(input_ids=torch.tensor([ids], device=model.device), use_cache=True, **{self.argument: cache})
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]
        self.dtype = model.dtype
        self._static: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def prepare(self, length: int) -> None:
        """Build the mask and positions for ``length`` outside any graph or compiled region."""
        if length not in self._static:
            self._static[length] = self._mask_and_positions(length)

    def arguments(self, batch: int, length: int) -> dict[str, Any]:
        """Model keyword arguments for ``length`` new tokens per row after the prefix."""
        self.prepare(length)
        mask, positions = self._static[length]
        layers = [_PrefixLayer(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.layers]
        return {"attention_mask": mask, "position_ids": positions, self.argument: Cache(layers=layers)}

    def _mask_and_positions(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.layers[0][0].device
        start = len(self.ids)
        rows = torch.arange(length, device=device).view(-1, 1)
        allowed = (torch.arange(start + length, device=device).view(1, -1) <= rows + start).view(1, 1, length, -1)
        # Additive, in the model's dtype: both eager attention and SDPA take it as is (SDPA would convert a
        # boolean mask in every layer of every forward).
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=device).masked_fill(~allowed, torch.finfo(self.dtype).min)
        return mask, torch.arange(start, start + length, device=device).view(1, -1)


def prefix_supported(model: ResRankModel) -> str | None:
    """Why a model's prefix cannot be reused (None when it can)."""
    config = model.reranker.config
    if config._attn_implementation not in ("sdpa", "eager"):
        return f"attention {config._attn_implementation!r} takes no 4D mask"
    if any(kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()):
        return "sliding-window layers"
    return None


class _PrefixLayer(DynamicLayer):
    """A dynamic cache layer that starts out holding the prefix (a view: nothing is copied)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.keys, self.values, self.is_initialized = keys, values, True
        self.dtype, self.device = keys.dtype, keys.device


def scores(model: ResRankModel, prefix: PrefixKV | None, ids: torch.Tensor, vectors: torch.Tensor,
           source: torch.Tensor, is_slot: torch.Tensor, slots: torch.Tensor, last: torch.Tensor,
           levels: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
    """[B, S] scores. ids/source/is_slot [B, L]; vectors [B, S, D]; slots [B, S]; last [B]; levels [B, S]
    (normalised first-stage scores, read by a ``first_stage_scores`` or ``score_fusion`` model only); queries [B, D].

    ``source[b, t]`` is the slot whose vector replaces token t where ``is_slot``; ``slots[b, s]`` is
    slot s's position (any position for padding slots, whose scores the caller drops).
    """
    batch, length = ids.shape
    embeds = model.reranker.get_input_embeddings()(ids)
    width = embeds.shape[-1]
    injected = model.injector(vectors)
    inputs = model.slot_inputs(injected, torch.arange(vectors.shape[1], device=vectors.device), levels)  # slot s: position s
    placed = inputs.to(embeds.dtype).gather(1, source.unsqueeze(-1).expand(batch, length, width))
    embeds = torch.where(is_slot.unsqueeze(-1), placed, embeds)
    extra = prefix.arguments(batch, length) if prefix is not None else {}
    hidden = model.reranker(inputs_embeds=embeds, use_cache=False, **extra).last_hidden_state
    query = hidden.gather(1, last.view(batch, 1, 1).expand(batch, 1, width))
    if queries is not None:
        query = model._residual(query, model.injector(queries).unsqueeze(1))
    states = hidden.gather(1, slots.unsqueeze(-1).expand(batch, slots.shape[1], width))
    cosine = F.cosine_similarity(query.float(), model._residual(states, injected).float(), dim=-1)
    return model.fused(cosine, levels) * model.config.score_scale
