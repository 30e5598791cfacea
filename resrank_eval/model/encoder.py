"""The Encoder-LLM: any Hugging Face ``AutoModel`` turned into one vector per text.

Serves three callers with one code path: the dense index (passages), the dense retriever (queries,
through :class:`QueryEncoder` for Pyserini) and the ResRank reranker (passage vectors injected as
tokens). Gradients flow when the caller has them enabled, so a trainer can back-propagate into it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ResrankError


class Encoder(nn.Module):
    """One pooled (and optionally L2-normalised) vector per text, batched by length.

    ``pooling``: ``last`` (the EOS token, appended when the tokenizer does not; decoder embedders
    such as Qwen3-Embedding), ``mean`` (sentence-transformers' MiniLM) or ``cls``.
    """

    def __init__(self, model: Any, tokenizer: Any, pooling: str, normalize: bool, max_tokens: int,
                 query_instruction: str = "", batch_size: int = 32) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.max_tokens = max_tokens
        self.query_instruction = query_instruction
        self.batch_size = batch_size
        self.pad_id = _pad_id(tokenizer)
        self.eos_id = tokenizer.eos_token_id if pooling == "last" else None
        if pooling == "last" and self.eos_id is None:
            raise ResrankError("encoder: last-token pooling needs a tokenizer with an EOS token")

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: Sequence[str], queries: bool = False) -> list[list[int]]:
        """Token ids per text, truncated to ``max_tokens`` (EOS included for last-token pooling)."""
        if queries and self.query_instruction:
            texts = [self.query_instruction + text for text in texts]
        room = self.max_tokens - (1 if self.eos_id is not None else 0)
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=room)["input_ids"]
        if self.eos_id is not None:
            ids = [seq if seq and seq[-1] == self.eos_id else seq + [self.eos_id] for seq in ids]
        return ids

    def encode(self, texts: Sequence[str], queries: bool = False) -> torch.Tensor:
        """[len(texts), dim] on the model's device; differentiable under ``torch.enable_grad``."""
        return self.embed(self.tokenize(texts, queries))

    def embed(self, token_ids: Sequence[Sequence[int]],
              forward: Callable[[list[Sequence[int]]], torch.Tensor] | None = None) -> torch.Tensor:
        """Longest first in batches (little padding); on GPU OOM the batch size halves and retries.

        ``forward``: one batch's vectors, when not the plain (differentiable) one, e.g. the fast
        engine's (``model/encoding.py``).
        """
        forward = forward or self._forward
        if not token_ids:
            return torch.empty(0, self.dim, device=self.device)
        order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
        pooled: list[torch.Tensor] = []
        start, batch_size = 0, self.batch_size
        while start < len(order):
            batch = [token_ids[i] for i in order[start:start + batch_size]]
            try:
                pooled.append(forward(batch))
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise ResrankError("encoder: out of GPU memory at batch size 1") from None
                torch.cuda.empty_cache()
                batch_size //= 2
                continue
            start += len(batch)
        stacked = torch.cat(pooled)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return stacked[inverse.to(stacked.device)]

    def _forward(self, batch: list[Sequence[int]]) -> torch.Tensor:
        ids, mask = padded(batch, self.pad_id, len(batch), max(len(seq) for seq in batch))
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self.pooled(ids, mask, mask)

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor, attention: torch.Tensor | None) -> torch.Tensor:
        """Pooled (normalised) float32 vectors of a right-padded batch; ``attention`` None: causal, no mask."""
        hidden = self.model(input_ids=ids, attention_mask=attention).last_hidden_state
        vectors = pool(hidden, mask, self.pooling).float()
        return F.normalize(vectors, dim=-1) if self.normalize else vectors


def padded(batch: Sequence[Sequence[int]], pad_id: int, rows: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [rows, width] ids and mask on the host; rows past the batch hold one token."""
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    mask[len(batch):, 0] = 1
    for row, seq in enumerate(batch):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, L, H] -> [B, H] for right-padded batches."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    last = mask.sum(1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class QueryEncoder:
    """Pyserini's query-encoder protocol (``encode`` / ``encode_batch`` -> numpy) over an Encoder."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def encode(self, query: str) -> np.ndarray:
        return self.encode_batch([query])[0]

    def encode_batch(self, queries: Sequence[str]) -> np.ndarray:
        with torch.inference_mode():
            return self.encoder.encode(queries, queries=True).float().cpu().numpy()


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0
