"""The Encoder-LLM: any Hugging Face ``AutoModel`` turned into one vector per text.

Serves three callers with one code path: the dense index (passages), the dense retriever (queries,
through :class:`QueryEncoder` for Pyserini) and the ResRank reranker (passage vectors injected as
tokens). Gradients flow when the caller has them enabled, so a trainer can back-propagate into it.
Texts are sorted by length into batches (little padding). Without gradients, in eval mode, the same
path drops what only speed needs: a causal encoder (decoder attention, e.g. Qwen3-Embedding) reads its
right-padded batch without an attention mask (no real token attends to a later pad, and SDPA takes its
causal kernel), checked once against the masked forward; on CUDA, lengths are padded to buckets and
batch sizes to powers of two, one CUDA graph per shape (:mod:`.graphs`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ResrankError
from .graphs import GraphRunner, WeightsWatch, batch_bucket, length_bucket, pad_token_id, padded, relative_error, stage, tolerance

log = logging.getLogger(__name__)


class Encoder(nn.Module):
    """One pooled (and optionally L2-normalised) vector per text, batched by length.

    ``pooling``: ``last`` (the end token the tokenizer appends, as Qwen3-Embedding's appends ``<|endoftext|>``, else the
    EOS token, appended here; decoder embedders), ``mean`` (sentence-transformers' MiniLM) or ``cls``.
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
        self.pad_id = pad_token_id(tokenizer)
        appending = pooling == "last" and not appends_end_token(tokenizer)  # the EOS this encoder appends, if any
        self.eos_id = tokenizer.eos_token_id if appending else None
        if appending and self.eos_id is None:
            raise ResrankError("encoder: last-token pooling needs a tokenizer with an EOS token")
        self.unmasked: bool | None = None if is_causal(model) else False  # decided on the first padded batch
        self.graphs: GraphRunner | None = None
        self.watch = WeightsWatch()
        self.use_graphs: bool | None = None  # None: on CUDA

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: Sequence[str], queries: bool = False) -> list[list[int]]:
        """Token ids per text, truncated to ``max_tokens`` (the end token included for last-token pooling)."""
        if not texts:
            return []
        if queries and self.query_instruction:
            texts = [self.query_instruction + text for text in texts]
        room = self.max_tokens - (1 if self.eos_id is not None else 0)
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=room)["input_ids"]
        if self.eos_id is not None:
            ids = [seq if seq and seq[-1] == self.eos_id else seq + [self.eos_id] for seq in ids]
        return ids

    def encode(self, texts: Sequence[str], queries: bool = False, batch_size: int | None = None) -> torch.Tensor:
        """[len(texts), dim] on the model's device; differentiable under ``torch.enable_grad``."""
        return self.embed(self.tokenize(texts, queries), batch_size)

    def embed(self, token_ids: Sequence[Sequence[int]], batch_size: int | None = None) -> torch.Tensor:
        """Longest first in batches of ``batch_size`` (little padding); on GPU OOM the batch size halves and retries."""
        if not token_ids:
            return torch.empty(0, self.dim, device=self.device)
        order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
        pooled: list[torch.Tensor] = []
        start, batch_size = 0, batch_size or self.batch_size
        while start < len(order):
            batch = [token_ids[i] for i in order[start:start + batch_size]]
            try:
                pooled.append(self._forward(batch))
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise ResrankError("encoder: out of GPU memory at batch size 1") from None
                torch.cuda.empty_cache()
                batch_size //= 2
                continue
            start += len(batch)
        inverse = torch.tensor(order).argsort()  # text i's row among the length-sorted vectors
        return torch.cat(pooled)[inverse.to(self.device)]

    def _forward(self, batch: list[Sequence[int]]) -> torch.Tensor:
        """One batch's vectors; without gradients, in eval mode, by the shortcuts the module doc names."""
        inference = not (torch.is_grad_enabled() or self.training)
        graphs = self._graphs() if inference and (self.device.type == "cuda" if self.use_graphs is None else self.use_graphs) else None
        longest = max(len(seq) for seq in batch)
        rows, width = (batch_bucket(len(batch), self.batch_size), length_bucket(longest)) if graphs else (len(batch), longest)
        ids, mask = (stage(x, self.device) for x in padded(batch, self.pad_id, rows, width))
        if not inference:
            return self.pooled(ids, mask, True)
        if self.unmasked is None and width > min(len(seq) for seq in batch):  # once, on a padded batch: the same vectors?
            error = relative_error(self.pooled(ids, mask, False), self.pooled(ids, mask, True))
            self.unmasked = error <= tolerance(next(self.model.parameters()).dtype)
            if not self.unmasked:
                log.warning("encoder: unmasked forward differs by %.3g relative; keeping the attention mask", error)
        forward = functools.partial(self.pooled, masked=not self.unmasked)
        if graphs is not None:
            return graphs.run((rows, width, bool(self.unmasked)), forward, (ids, mask))[:len(batch)]
        return forward(ids, mask)[:len(batch)]

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor, masked: bool) -> torch.Tensor:
        """Pooled (normalised) float32 vectors of a right-padded batch; not ``masked``: causal, no attention mask."""
        hidden = self.model(input_ids=ids, attention_mask=mask if masked else None).last_hidden_state
        vectors = pool(hidden, mask, self.pooling).float()
        return F.normalize(vectors, dim=-1) if self.normalize else vectors

    def _graphs(self) -> GraphRunner:
        """The graphs of the weights as they are now (captured graphs read weights where they were)."""
        if self.watch.changed(self.model) or self.graphs is None:
            self.graphs = GraphRunner(tolerance(next(self.model.parameters()).dtype))
        return self.graphs

    def train(self, mode: bool = True) -> Encoder:
        super().train(mode)
        self.watch.forget()
        return self


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, L, H] -> [B, H] for right-padded batches."""
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    last = mask.sum(1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def passage_vectors(encoder: Encoder, lists: Sequence[Sequence[tuple[str, str | None]]], store: Any = None,
                    batch_size: int | None = None, labels: Sequence[str] = ()) -> tuple[list[torch.Tensor], list[list[int | None]]]:
    """Per list of (docid, text): its [n, D] float32 vectors on the encoder's device, read from ``store`` where it
    holds the docid (a dense index's ``DenseVectors``, or a dict), the rest encoded together, once per docid; and
    per candidate its encoder tokens (None when stored). ``labels`` name the lists in errors."""
    stored = stored_vectors(store, [docid for items in lists for docid, _ in items])
    todo: dict[str, str] = {}
    for q, items in enumerate(lists):
        for docid, text in items:
            if docid not in stored and docid not in todo:
                if not text:
                    raise ResrankError(f"{labels[q] if labels else 'rank'}: docid {docid}: no text and no cached vector")
                todo[docid] = text
    ids = encoder.tokenize(list(todo.values()))
    fresh = dict(zip(todo, encoder.embed(ids, batch_size)))
    length = dict(zip(todo, map(len, ids)))
    return [_stacked([d for d, _ in items], fresh, stored, encoder.device) for items in lists], \
        [[length.get(d) for d, _ in items] for items in lists]


def stored_vectors(store: Any, docids: Sequence[str]) -> Mapping[str, Any]:
    """The vectors ``store`` holds of ``docids`` by docid (a dense index's ``DenseVectors``, or a dict); the rest left out."""
    if hasattr(store, "get") and not isinstance(store, Mapping):
        return store.get(docids)
    return {d: store[d] for d in docids if d in store} if store else {}


def _stacked(docids: list[str], fresh: dict[str, torch.Tensor], stored: Mapping[str, Any], device: torch.device) -> torch.Tensor:
    """[n, D] float32 on the device; stored rows stacked on the host and copied in one (pinned, async) transfer."""
    hits = [torch.as_tensor(stored[d]) for d in docids if d not in fresh]
    kept = stage(torch.stack(hits), device).float() if hits else None
    if len(hits) == len(docids) and kept is not None:  # every vector stored (a dense index's rerank): no second copy
        return kept
    rows = iter(kept if kept is not None else ())
    return torch.stack([fresh[d].float() if d in fresh else next(rows) for d in docids])


class QueryEncoder:
    """Pyserini's query-encoder protocol (``encode`` / ``encode_batch`` -> numpy) over an Encoder."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def encode(self, query: str) -> np.ndarray:
        return self.encode_batch([query])[0]

    def encode_batch(self, queries: Sequence[str]) -> np.ndarray:
        with torch.inference_mode():
            return self.encoder.encode(queries, queries=True).float().cpu().numpy()


def appends_end_token(tokenizer: Any) -> bool:
    """Whether the tokenizer ends a text with a special token of its own (Qwen3-Embedding's ``<|endoftext|>``, which is
    not its EOS ``<|im_end|>``): last-token pooling reads that one, as the model's own usage does, and appends nothing."""
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[-1] in tokenizer.all_special_ids and ids != tokenizer("a", add_special_tokens=False)["input_ids"]


def is_causal(model: Any) -> bool:
    """Every attention module declares causal attention (and the config does not switch it off)."""
    flags = [m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    return bool(flags) and all(flags) and getattr(model.config, "is_causal", True) is not False

