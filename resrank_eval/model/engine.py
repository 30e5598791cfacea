"""The fast engine behind ResRank's scores; ``engine="eager"`` (``ResRankModel.forward``) is the reference.

Same inputs, same :class:`ScoreOutput`, same maths (``static.scores``), different mechanics:
prompts assembled from pre-tokenized pieces (``assembly``); the instruction prefix's KV cache computed
once and reused (``static.PrefixKV``, checked against a full forward at first use); rows (one per
query pass) sorted by length into batches of at most ``max_rows``, right-padded with no attention mask
(causal: no real token reads a pad); on CUDA, lengths padded to buckets and batch sizes to powers of
two so one CUDA graph per (prefix, batch, length, slots) serves every call (``graphs``), fed from
pinned host buffers with asynchronous copies; optionally ``torch.compile``. Inference only: the
prefix cache belongs to the weights it was computed with, so training keeps the eager path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import ResrankError
from .assembly import PromptAssembler
from .graphs import GraphRunner, batch_bucket, length_bucket, relative_error, tolerance
from .static import PrefixKV, prefix_supported, scores

if TYPE_CHECKING:
    from .prompt import Prompt
    from .resrank import ResRankModel, ScoreOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineOptions:
    """``None`` means: decided by the device (graphs and buckets on CUDA, neither on a CPU)."""

    prefix: bool = True
    graphs: bool | None = None
    buckets: bool | None = None
    compile: str | None = None  # a torch.compile mode, or a backend such as aot_eager
    max_rows: int = 128


class FastScorer:
    """Callable like the model (``scorer(queries, vectors, first_stage=None) -> ScoreOutput``), for frozen weights."""

    def __init__(self, model: ResRankModel, options: EngineOptions = EngineOptions()) -> None:
        if options.max_rows < 1:
            raise ResrankError(f"engine: max_rows must be positive, got {options.max_rows}")
        self.model = model.eval()
        self.options = options
        self.assembler = PromptAssembler(model.prompts)
        cuda = model.device.type == "cuda"
        self.graphs = GraphRunner(tolerance(model.dtype)) if (cuda if options.graphs is None else options.graphs) else None
        self.buckets = self.graphs is not None or bool(options.compile) if options.buckets is None else options.buckets
        self.prefixes: dict[tuple[int, ...], PrefixKV | None] = {}
        self.prefix_off = prefix_supported(model) if options.prefix else "switched off"  # why there is no prefix reuse
        self.forward = _compiled(scores, options.compile) if options.compile else scores
        pad = model.tokenizer.pad_token_id
        self.pad_id = model.encoder.pad_id if pad is None else int(pad)

    def __call__(self, queries: Sequence[str], passage_vectors: torch.Tensor | Sequence[torch.Tensor],
                 first_stage: Sequence[torch.Tensor] | None = None) -> ScoreOutput:
        with torch.inference_mode():
            return self._score(queries, passage_vectors, first_stage)

    def _score(self, queries: Sequence[str], passage_vectors: torch.Tensor | Sequence[torch.Tensor],
               first_stage: Sequence[torch.Tensor] | None) -> ScoreOutput:
        model = self.model
        vectors = list(passage_vectors)
        if len(vectors) != len(queries):
            raise ResrankError(f"score: {len(queries)} queries but {len(vectors)} passage lists")
        rows = model._rows(queries, vectors)
        levels = model.row_levels(rows, vectors, first_stage)
        prompts = self.assembler.build_many([queries[q] for q, _, _ in rows], [len(chunk) for _, _, chunk in rows])
        query_vectors = model.encode_queries(queries).to(model.device, model.dtype) if model.config.query_residual else None
        outputs, order = [], []
        for prefix, batch in self._batches(rows, prompts, levels):
            outputs.append(self._run(prefix, [rows[r] for r in batch], [prompts[r] for r in batch], query_vectors,
                                     [levels[r] for r in batch] if levels is not None else None))
            order.extend(batch)
        sizes = np.array([len(chunk) for _, _, chunk in rows])
        starts = np.zeros(len(rows), dtype=np.int64)
        starts[order] = np.cumsum(sizes[order]) - sizes[order]  # where each row's scores landed in ``flat``
        row_of, column = _spread(sizes)
        index = torch.from_numpy(starts[row_of] + column)
        return model._collect(rows, prompts, torch.cat(outputs)[index.to(model.device)], len(queries))

    def _batches(self, rows: list[tuple[int, int, torch.Tensor]], prompts: list[Prompt],
                 levels: list[torch.Tensor] | None) -> list[tuple[PrefixKV | None, list[int]]]:
        """Rows grouped by shared prefix, longest first, in chunks of at most ``max_rows``."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for r, prompt in enumerate(prompts):
            groups.setdefault(tuple(prompt.ids[:prompt.slots[0]]), []).append(r)
        batches = []
        for key, members in groups.items():
            first = members[0]
            prefix = self._prefix(key, rows[first], prompts[first], [levels[first]] if levels is not None else None)
            members.sort(key=lambda r: -len(prompts[r].ids))
            size = self.options.max_rows
            batches.extend((prefix, members[i:i + size]) for i in range(0, len(members), size))
        return batches

    def _prefix(self, ids: tuple[int, ...], row: tuple[int, int, torch.Tensor], prompt: Prompt,
                levels: list[torch.Tensor] | None) -> PrefixKV | None:
        if self.prefix_off or not ids:
            return None
        if ids not in self.prefixes:
            self.prefixes[ids] = self._checked_prefix(ids, row, prompt, levels)
        return self.prefixes[ids]

    def _checked_prefix(self, ids: tuple[int, ...], row: tuple[int, int, torch.Tensor], prompt: Prompt,
                        levels: list[torch.Tensor] | None) -> PrefixKV | None:
        """The prefix's cache, if a forward after it matches the full forward on its first row (query residual aside)."""
        model = self.model
        try:
            prefix = PrefixKV(model, list(ids))
            full, _ = self._inputs(None, [row], [prompt], None, levels, exact=True)
            after, _ = self._inputs(prefix, [row], [prompt], None, levels, exact=True)
            error = relative_error(scores(model, prefix, *after), scores(model, None, *full))
            if not error <= tolerance(model.dtype):
                raise RuntimeError(f"scores after the cached prefix differ by {error:.3g} relative")
            log.info("prefix KV reuse on: %d tokens computed once (check: %.3g relative)", len(prefix), error)
            return prefix
        except Exception as exc:  # noqa: BLE001 - prefix reuse is an optimisation; say why it is off
            log.warning("prefix KV reuse off (%s: %s); running whole prompts", type(exc).__name__, exc)
            self.prefix_off = str(exc)
            return None

    def _run(self, prefix: PrefixKV | None, rows: list[tuple[int, int, torch.Tensor]], prompts: list[Prompt],
             query_vectors: torch.Tensor | None, levels: list[torch.Tensor] | None) -> torch.Tensor:
        """Scores of these rows' candidates, row after row (padding dropped)."""
        inputs, place = self._inputs(prefix, rows, prompts, query_vectors, levels, exact=self.graphs is None)
        if prefix is not None:
            prefix.prepare(inputs[0].shape[1])
        forward = functools.partial(self.forward, self.model, prefix)
        if self.graphs is not None:
            key = (id(prefix), *(tuple(x.shape) for x in inputs))
            out = self.graphs.run(key, forward, inputs)
        else:
            out = forward(*inputs)
        return out.reshape(-1)[place]

    def _inputs(self, prefix: PrefixKV | None, rows: list[tuple[int, int, torch.Tensor]], prompts: list[Prompt],
                query_vectors: torch.Tensor | None, levels: list[torch.Tensor] | None,
                exact: bool) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Static-shaped tensors for ``static.scores`` and the flat [B * S] positions of real candidates.

        ``exact``: no batch padding, as many slots as the longest row needs (otherwise the graph shapes).
        """
        model = self.model
        skip = len(prefix) if prefix is not None else 0
        length = max(len(p.ids) for p in prompts) - skip
        length = length_bucket(length) if self.buckets else length
        batch = len(rows) if exact else batch_bucket(len(rows), self.options.max_rows)
        width = max(len(c) for _, _, c in rows) if exact else model.config.max_candidates_per_pass
        row_of, column = _spread(np.array([len(p.slots) for p in prompts]))
        where = np.concatenate([p.slots for p in prompts]) - skip
        ids = np.full((batch, length), self.pad_id, dtype=np.int64)
        for b, prompt in enumerate(prompts):
            ids[b, :len(prompt.ids) - skip] = prompt.ids[skip:]
        source = np.zeros((batch, length), dtype=np.int64)
        source[row_of, where] = column
        is_slot = np.zeros((batch, length), dtype=bool)
        is_slot[row_of, where] = True
        slots = np.zeros((batch, width), dtype=np.int64)
        slots[row_of, column] = where
        last = np.zeros(batch, dtype=np.int64)
        last[:len(prompts)] = [len(p.ids) - skip - 1 for p in prompts]
        staged = [stage(torch.from_numpy(x), model.device) for x in (ids, source, is_slot, slots, last)]
        place = stage(torch.from_numpy(row_of * width + column), model.device)
        vectors = torch.zeros((batch * width, model.encoder.dim), device=model.device, dtype=model.dtype)
        vectors.index_copy_(0, place, torch.cat([c for _, _, c in rows]).to(model.device, model.dtype))
        flat_levels = torch.zeros(batch * width, device=model.device, dtype=model.dtype)  # zeros: read by no model without first-stage scores
        if levels is not None:
            flat_levels.index_copy_(0, place, torch.cat(levels).to(model.device, model.dtype))
        inputs = [staged[0], vectors.view(batch, width, -1), *staged[1:], flat_levels.view(batch, width)]
        if query_vectors is not None:
            pick = torch.tensor([q for q, _, _ in rows] + [0] * (batch - len(rows)))
            inputs.append(query_vectors[pick.to(model.device)])
        return tuple(inputs), place


def _spread(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of ``sizes`` items laid end to end: each item's run and its index within the run."""
    row_of = np.repeat(np.arange(len(sizes)), sizes)
    return row_of, np.arange(len(row_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def stage(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor to the device: through pinned memory and an asynchronous copy on CUDA."""
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _compiled(fn: Any, how: str) -> Any:
    """``torch.compile`` with a mode (``default``, ``max-autotune``, ...) or a backend (``aot_eager``: tracing only)."""
    modes = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    return torch.compile(fn, dynamic=False, **({"mode": how} if how in modes else {"backend": how}))

