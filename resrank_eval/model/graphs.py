"""CUDA graphs keyed by input shape, the padding that makes shapes repeat, and when cached state is stale.

A ResRank forward at the 4B shape is launch-bound: ~36 layers x a dozen small kernels. Captured once
per static shape and replayed, the whole forward is one launch. Capture follows PyTorch's recipe
(warm-up on a side stream, one shared memory pool, inputs copied into static buffers before each
replay) and is checked: the first replay must reproduce the uncaptured output of the same inputs, or
the key runs uncaptured from then on. Any failure (an op that syncs, an allocator refusal) is logged
with its reason and that key falls back; nothing here can change a score by more than the check allows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import torch

from ..errors import first_line

log = logging.getLogger(__name__)


def tolerance(dtype: torch.dtype) -> float:
    """Relative error allowed between two computations of the same outputs: fp32 rounding, or 16-bit drift.

    Loose enough for bf16 through 36 layers, tight enough to catch garbage (wrong positions, stale or
    freed memory, NaN), which moves outputs by their own size.
    """
    return 1e-5 if dtype == torch.float32 else 5e-2


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (NaN anywhere gives NaN, which no tolerance admits)."""
    return ((got.float() - want.float()).abs().max() / want.float().abs().max().clamp(min=1e-6)).item()


def batch_bucket(rows: int, most: int) -> int:
    """The next power of two (capped at ``most``): a handful of captured batch sizes cover any batch."""
    return min(1 << max(rows - 1, 0).bit_length(), most) if rows <= most else rows


def length_bucket(length: int) -> int:
    """Round up so that padding stays under 1/8 of the length: steps of 8 up to 128, 16 to 256, ..."""
    step = max(8, 1 << max(length.bit_length() - 4, 0))
    return -(-length // step) * step


def pad_token_id(tokenizer: Any) -> int:
    """The id a tokenizer's rows are padded with: its pad token, else its EOS, else 0 (masked or never read, but an id of
    its own model's vocabulary: another tokenizer's pad id may lie past its embedding table)."""
    return next((int(i) for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0)


def padded(batch: Sequence[Sequence[int]], pad_id: int, rows: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [rows, width] ids and mask on the host; rows past the batch hold one token."""
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    mask[len(batch):, 0] = 1
    for row, seq in enumerate(batch):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask


class WeightsWatch:
    """Whether a module's weights are still those a cache (a prefix's keys and values, a captured graph) was made with.

    Watches where each weight lives and how often it was written in place: moving the module, loading a state
    dict or an optimizer step shows. The list of weights is taken at the first look (listing them costs
    milliseconds, looking at them a tenth of that); :meth:`forget` starts over, which the model's ``train()``
    and ``eval()`` call, so weights added or replaced while training (LoRA, FSDP) are seen too.
    """

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] | None = None
        self.key: tuple[tuple[int, int], ...] | None = None

    def changed(self, module: torch.nn.Module) -> bool:
        if self.weights is None:
            self.weights = list(module.parameters())
        key = tuple((w.data_ptr(), w._version) for w in self.weights)
        changed, self.key = key != self.key, key
        return changed

    def forget(self) -> None:
        self.weights = self.key = None


def stage(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor to the device: through pinned memory and an asynchronous copy on CUDA."""
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class GraphRunner:
    """Runs ``fn(*inputs)`` through a CUDA graph captured for each key (a shape), or uncaptured.

    ``tolerance``: the relative error (:func:`relative_error`) a first replay may have against the plain call.
    """

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor] | None] = {}
        self.pool: Any = None
        self.reasons: dict[Hashable, str] = {}

    def __deepcopy__(self, memo: dict) -> GraphRunner:
        """No graphs: a copy of a model has weights elsewhere (and CUDA graphs cannot be copied)."""
        return GraphRunner(self.tolerance)

    def run(self, key: Hashable, fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if key not in self.graphs:
            self.graphs[key] = self._capture(key, fn, inputs)
        entry = self.graphs[key]
        if entry is None:
            return fn(*inputs)
        graph, static, output = entry
        for buffer, value in zip(static, inputs):
            buffer.copy_(value, non_blocking=True)
        graph.replay()
        return output.clone()

    def _capture(self, key: Hashable, fn: Callable[..., torch.Tensor],
                 inputs: Sequence[torch.Tensor]) -> tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor] | None:
        try:
            if any(x.device.type != "cuda" for x in inputs):
                raise ValueError("inputs are not on a CUDA device")
            if torch.cuda.is_current_stream_capturing():
                raise RuntimeError("already inside a capture")
            static = [x.clone() for x in inputs]
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):
                    expected = fn(*static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                output = fn(*static)
            self.pool = graph.pool()
            graph.replay()
            torch.cuda.synchronize()
            error = relative_error(output, expected)
            if not error <= self.tolerance:  # also catches NaN
                raise RuntimeError(f"replay differs from the plain call by {error:.3g} relative (> {self.tolerance:.3g})")
            log.info("CUDA graph captured for shape %s (replay vs plain call: %.3g relative)", key, error)
            return graph, static, output
        except Exception as exc:  # noqa: BLE001 - any capture failure means: run this shape uncaptured
            self.reasons[key] = f"{type(exc).__name__}: {first_line(exc)}"
            log.warning("CUDA graph for shape %s not used, running uncaptured (%s)", key, self.reasons[key])
            with contextlib.suppress(Exception):  # the failure is already recorded
                torch.cuda.synchronize()
            return None

    def captured(self) -> int:
        return sum(entry is not None for entry in self.graphs.values())
