"""ResRank's one scoring path, for training and inference alike.

Candidates beyond ``max_candidates_per_pass`` become more rows (passes) of the same batch. Prompts are
built from pieces tokenized once per passage count (:meth:`.prompt.Prompts.build_many`); rows are sorted
by length into batches of at most ``max_rows``, right-padded with no attention mask (the reader is
causal: no real token reads a pad), and every data-dependent fact (lengths, slot positions, candidate
counts) arrives as index tensors, so :func:`scores` runs on static shapes. Its maths: placeholders'
embeddings replaced by :meth:`ResRankModel.slot_inputs`, hidden states after the final norm, residual,
cosine in float32, fusion, ``score_scale``.

Without gradients and in eval mode, the same path also reuses what does not change between calls: the
instruction prefix shared by every prompt (up to the first passage slot) is run once and each forward
feeds only the rest, attending to the prefix's keys and values in a transformers ``Cache`` with
explicit positions and an explicit 4D mask (so transformers' own mask logic, which inspects tensor
values, never runs inside a graph); checked against a whole-prompt forward at first use. On CUDA,
lengths are padded to buckets and batch sizes to powers of two so that one CUDA graph per shape serves
every call (:mod:`.graphs`), fed through pinned host buffers; ``compile`` adds ``torch.compile``. These
caches belong to the weights they were made with (:class:`.graphs.WeightsWatch`): an optimizer step, a
load or a move drops them. Under gradients (a trainer's ranking loss) none of them is used.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.nn.utils.rnn import pad_sequence

from ..errors import ResrankError
from ..numeric import minmax
from .graphs import GraphRunner, WeightsWatch, batch_bucket, length_bucket, padded, relative_error, stage, tolerance

if TYPE_CHECKING:
    from .prompt import Prompt
    from .resrank import ResRankModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    """One pass: its query's index, [n, D] vectors and, for a model that reads them, [n] levels (its candidates'
    first-stage scores min-max normalised over the whole query, as score interpolation normalises them)."""

    query: int
    vectors: torch.Tensor
    levels: torch.Tensor | None


@dataclass
class ScoreOutput:
    """Scores [B, N_max] (``-inf`` where a query has fewer passages) and each query's cost.

    ``pass_tokens``: per query, the length of each of its reranker passes (their count and sum are its passes and
    input tokens; its FLOPs depend on them).
    """

    scores: torch.Tensor
    pass_tokens: list[list[int]]


class Scoring:
    """The path's settings and its inference caches, one per model (``model.scoring``).

    ``prefix``: reuse the shared prefix's keys and values; ``graphs`` and ``buckets``: CUDA graphs, and
    the padding to shapes they need (None: on CUDA only); ``compile``: a ``torch.compile`` mode
    (``default``, ``max-autotune``, ...) or backend (``aot_eager``: tracing only); ``max_rows``: rows per forward.
    None of them changes a score beyond rounding (the equivalence tests hold each to the reference).
    """

    def __init__(self, prefix: bool = True, graphs: bool | None = None, buckets: bool | None = None,
                 compile: str | None = None, max_rows: int = 128) -> None:
        if max_rows < 1:
            raise ResrankError(f"scoring: max_rows must be positive, got {max_rows}")
        self.prefix, self.graph_option, self.buckets, self.compile, self.max_rows = prefix, graphs, buckets, compile, max_rows
        self.forward = _compiled(scores, compile) if compile else scores
        self.watch = WeightsWatch()
        self.prefixes: dict[tuple[int, ...], PrefixKV | None] = {}
        self.prefix_off: str | None = None  # why there is no prefix reuse
        self.graphs: GraphRunner | None = None
        self.bucketed = False

    def __call__(self, model: ResRankModel, queries: Sequence[str], passage_vectors: torch.Tensor | Sequence[torch.Tensor],
                 first_stage: Sequence[torch.Tensor] | None = None) -> ScoreOutput:
        vectors = list(passage_vectors)
        if len(vectors) != len(queries):
            raise ResrankError(f"score: {len(queries)} queries but {len(vectors)} passage lists")
        rows = _rows(model, vectors, first_stage)
        prompts = model.prompts.build_many([queries[row.query] for row in rows], [len(row.vectors) for row in rows])
        query_vectors = model.encoder.encode(queries, queries=True).to(model.device, model.dtype) if model.config.query_residual else None
        inference = not (torch.is_grad_enabled() or model.training)
        if inference:
            self._refresh(model)
        by_row: dict[int, torch.Tensor] = {}
        for prefix, batch in self._batches(model, rows, prompts, inference):
            scored = self._run(model, prefix, [rows[r] for r in batch], [prompts[r] for r in batch], query_vectors, inference)
            by_row.update(zip(batch, scored.split([len(rows[r].vectors) for r in batch])))
        return _collect(rows, prompts, torch.cat([by_row[r] for r in range(len(rows))]), len(queries))

    def _refresh(self, model: ResRankModel) -> None:
        """Drop what was cached for other weights; set the device-dependent choices."""
        if not self.watch.changed(model):
            return
        cuda = model.device.type == "cuda"
        self.prefixes = {}
        self.prefix_off = prefix_supported(model) if self.prefix else "switched off"
        self.graphs = GraphRunner(tolerance(model.dtype)) if (cuda if self.graph_option is None else self.graph_option) else None
        self.bucketed = self.graphs is not None or bool(self.compile) if self.buckets is None else self.buckets

    def _batches(self, model: ResRankModel, rows: list[Row], prompts: list[Prompt],
                 inference: bool) -> list[tuple[PrefixKV | None, list[int]]]:
        """Rows grouped by shared prefix, longest first, in chunks of at most ``max_rows``."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for r, prompt in enumerate(prompts):
            groups.setdefault(tuple(prompt.ids[:prompt.slots[0]]), []).append(r)
        batches = []
        for key, members in groups.items():
            first = members[0]
            prefix = self._prefix(model, key, rows[first], prompts[first]) if inference else None
            members.sort(key=lambda r: -len(prompts[r].ids))
            batches.extend((prefix, members[i:i + self.max_rows]) for i in range(0, len(members), self.max_rows))
        return batches

    def _prefix(self, model: ResRankModel, ids: tuple[int, ...], row: Row, prompt: Prompt) -> PrefixKV | None:
        """The prefix's cache, if a forward after it matches the whole forward on its first row (query residual aside)."""
        if self.prefix_off or not ids:
            return None
        if ids not in self.prefixes:
            try:
                prefix = PrefixKV(model, list(ids))
                after, _ = self._inputs(model, prefix, [row], [prompt], None)
                whole, _ = self._inputs(model, None, [row], [prompt], None)
                error = relative_error(scores(model, prefix, *after), scores(model, None, *whole))
                if not error <= tolerance(model.dtype):
                    raise RuntimeError(f"scores after the cached prefix differ by {error:.3g} relative")
                log.info("prefix KV reuse on: %d tokens computed once (check: %.3g relative)", len(prefix), error)
                self.prefixes[ids] = prefix
            except Exception as exc:  # noqa: BLE001 - prefix reuse is an optimisation; say why it is off
                log.warning("prefix KV reuse off (%s: %s); running whole prompts", type(exc).__name__, exc)
                self.prefix_off = str(exc)
                return None
        return self.prefixes[ids]

    def _run(self, model: ResRankModel, prefix: PrefixKV | None, rows: list[Row], prompts: list[Prompt],
             query_vectors: torch.Tensor | None, inference: bool) -> torch.Tensor:
        """Scores of these rows' candidates, row after row (padding dropped)."""
        graphs = self.graphs if inference else None
        inputs, place = self._inputs(model, prefix, rows, prompts, query_vectors, inference and self.bucketed, graphs is not None)
        if prefix is not None:
            prefix.prepare(inputs[0].shape[1])
        forward = functools.partial(self.forward if inference else scores, model, prefix)
        if graphs is not None:
            out = graphs.run((id(prefix), *(tuple(x.shape) for x in inputs)), forward, inputs)
        else:
            out = forward(*inputs)
        return out.reshape(-1)[place]

    def _inputs(self, model: ResRankModel, prefix: PrefixKV | None, rows: list[Row], prompts: list[Prompt],
                query_vectors: torch.Tensor | None, pad_length: bool = False,
                pad_batch: bool = False) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Static-shaped tensors for :func:`scores` and the flat [B * S] positions of real candidates.

        ``pad_length``: to its bucket; ``pad_batch``: rows to a power of two and slots to the most a pass holds
        (the graph shapes); otherwise as long, as many and as wide as these rows need.
        """
        skip = len(prefix) if prefix is not None else 0
        length = max(len(p.ids) for p in prompts) - skip
        length = length_bucket(length) if pad_length else length
        batch = batch_bucket(len(rows), self.max_rows) if pad_batch else len(rows)
        width = model.config.max_candidates_per_pass if pad_batch else max(len(row.vectors) for row in rows)
        row_of = np.repeat(np.arange(len(prompts)), [len(p.slots) for p in prompts])  # each slot's row
        column = np.concatenate([np.arange(len(p.slots)) for p in prompts])  # and its index within the row
        where = np.concatenate([p.slots for p in prompts]) - skip
        ids, mask = padded([p.ids[skip:] for p in prompts], model.pad_id, batch, length)
        source = np.zeros((batch, length), dtype=np.int64)
        source[row_of, where] = column
        slots = np.zeros((batch, width), dtype=np.int64)
        slots[row_of, column] = where
        last = mask.sum(1) - 1  # each row's last token (0 in padding rows, which hold one)
        staged = [stage(x, model.device) for x in (ids, torch.from_numpy(source), torch.from_numpy(slots), last)]
        place = stage(torch.from_numpy(row_of * width + column), model.device)
        real = torch.cat([row.vectors for row in rows]).to(model.device, model.dtype)
        vectors = torch.zeros((batch * width, real.shape[1]), device=model.device, dtype=model.dtype).index_copy(0, place, real)
        flat_levels = torch.zeros(batch * width, device=model.device, dtype=model.dtype)  # zeros: read by no model without scores
        if model.config.reads_first_stage:
            flat_levels.index_copy_(0, place, torch.cat([row.levels for row in rows]).to(model.device, model.dtype))
        inputs = [staged[0], vectors.view(batch, width, -1), *staged[1:], flat_levels.view(batch, width)]
        if query_vectors is not None:
            pick = torch.tensor([row.query for row in rows] + [0] * (batch - len(rows)))
            inputs.append(query_vectors[pick.to(model.device)])
        return tuple(inputs), place


def scores(model: ResRankModel, prefix: PrefixKV | None, ids: torch.Tensor, vectors: torch.Tensor,
           source: torch.Tensor, slots: torch.Tensor, last: torch.Tensor,
           levels: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
    """[B, S] scores. ids/source [B, L]; vectors [B, S, D]; slots [B, S]; last [B]; levels [B, S]
    (normalised first-stage scores, read by a ``first_stage_scores`` or ``score_fusion`` model only); queries [B, D].

    ``source[b, t]`` is the slot whose vector replaces token t where t is a placeholder; ``slots[b, s]`` is
    slot s's position (any position for padding slots, whose scores the caller drops).
    """
    batch, length = ids.shape
    embeds = model.reranker.get_input_embeddings()(ids)
    width = embeds.shape[-1]
    injected = model.injector(vectors)
    inputs = model.slot_inputs(injected, torch.arange(vectors.shape[1], device=vectors.device), levels)  # slot s: position s
    placed = inputs.to(embeds.dtype).gather(1, source.unsqueeze(-1).expand(batch, length, width))
    embeds = torch.where((ids == model.prompts.placeholder_id).unsqueeze(-1), placed, embeds)
    extra = prefix.arguments(batch, length) if prefix is not None else {}
    hidden = model.reranker(inputs_embeds=embeds, use_cache=False, **extra).last_hidden_state
    query = hidden.gather(1, last.view(batch, 1, 1).expand(batch, 1, width))
    if queries is not None:
        query = model.residual(query, model.injector(queries).unsqueeze(1))
    states = hidden.gather(1, slots.unsqueeze(-1).expand(batch, slots.shape[1], width))
    cosine = F.cosine_similarity(query.float(), model.residual(states, injected).float(), dim=-1)
    return model.fused(cosine, levels) * model.config.score_scale


class PrefixKV:
    """The shared prefix's keys and values (batch 1), computed once for frozen weights."""

    def __init__(self, model: ResRankModel, ids: list[int]) -> None:
        from transformers.cache_utils import DynamicCache

        self.ids = tuple(ids)
        decoder = model.reranker
        self.argument = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"  # renamed in 5.x
        cache = DynamicCache()
        decoder(input_ids=torch.tensor([ids], device=model.device), use_cache=True, **{self.argument: cache})
        self.layers = [(layer.keys, layer.values) for layer in cache.layers]
        self.dtype = model.dtype
        self.static: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def prepare(self, length: int) -> None:
        """Build the mask and positions for ``length`` new tokens outside any graph or compiled region.

        The mask is additive, in the model's dtype: eager attention and SDPA both take it as it is (SDPA
        would convert a boolean mask in every layer of every forward)."""
        if length not in self.static:
            device, start = self.layers[0][0].device, len(self.ids)
            rows = torch.arange(length, device=device).view(-1, 1)
            allowed = (torch.arange(start + length, device=device).view(1, -1) <= rows + start).view(1, 1, length, -1)
            mask = torch.zeros(allowed.shape, dtype=self.dtype, device=device).masked_fill(~allowed, torch.finfo(self.dtype).min)
            self.static[length] = mask, torch.arange(start, start + length, device=device).view(1, -1)

    def arguments(self, batch: int, length: int) -> dict[str, Any]:
        """Model keyword arguments for ``length`` new tokens per row after the prefix."""
        from transformers.cache_utils import Cache, DynamicLayer

        self.prepare(length)
        mask, positions = self.static[length]
        layers = []
        for keys, values in self.layers:
            layer = DynamicLayer()  # starts out holding the prefix (a view: nothing is copied)
            layer.keys, layer.values, layer.is_initialized = keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1), True
            layer.dtype, layer.device = keys.dtype, keys.device
            layers.append(layer)
        return {"attention_mask": mask, "position_ids": positions, self.argument: Cache(layers=layers)}


def prefix_supported(model: ResRankModel) -> str | None:
    """Why a model's prefix cannot be reused (None when it can)."""
    config = model.reranker.config
    if config._attn_implementation not in ("sdpa", "eager"):
        return f"attention {config._attn_implementation!r} takes no 4D mask"
    if any(kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()):
        return "sliding-window layers"
    return None


def _rows(model: ResRankModel, vectors: list[torch.Tensor], first_stage: Sequence[torch.Tensor] | None) -> list[Row]:
    """Each query's consecutive chunks of at most ``max_candidates_per_pass`` vectors (and levels), query after query."""
    size, dim, reads = model.config.max_candidates_per_pass, model.encoder.dim, model.config.reads_first_stage
    if reads and (first_stage is None or len(first_stage) != len(vectors)):
        raise ResrankError("score: this model reads first-stage scores (first_stage_scores, score_fusion); "
                           "give one score per candidate of every query")
    rows = []
    for q, block in enumerate(vectors):
        if block.dim() != 2 or block.shape[0] == 0 or block.shape[1] != dim:
            raise ResrankError(f"score: query {q} needs passage vectors [n>0, {dim}], got {list(block.shape)}")
        levels = None
        if reads:
            given = torch.as_tensor(first_stage[q], dtype=torch.float64).reshape(-1)  # type: ignore[index]
            if len(given) != len(block):
                raise ResrankError(f"score: query {q} needs {len(block)} first-stage scores, got {len(given)}")
            if not torch.isfinite(given).all():
                i = int((~torch.isfinite(given)).nonzero()[0])
                raise ResrankError(f"score: query {q}: first-stage score {i} is {given[i].item()} (scores must be finite)")
            levels = torch.tensor(minmax(given.tolist()), dtype=torch.float64)
        rows.extend(Row(q, block[start:start + size], None if levels is None else levels[start:start + size])
                    for start in range(0, len(block), size))
    return rows


def _collect(rows: list[Row], prompts: list[Prompt], flat: torch.Tensor, count: int) -> ScoreOutput:
    """Row-major candidate scores (so each query's in order) into [queries, longest list], with each query's pass lengths."""
    lengths: list[list[int]] = [[] for _ in range(count)]
    sizes = [0] * count
    for row, prompt in zip(rows, prompts):
        lengths[row.query].append(len(prompt.ids))
        sizes[row.query] += len(row.vectors)
    return ScoreOutput(pad_sequence(list(flat.split(sizes)), batch_first=True, padding_value=float("-inf")), lengths)


def _compiled(fn: Any, how: str) -> Any:
    modes = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    return torch.compile(fn, dynamic=False, **({"mode": how} if how in modes else {"backend": how}))
