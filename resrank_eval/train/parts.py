"""The three trainable parts of a ResRank model: LoRA wrapping, per-stage freezing, plain export.

``encoder`` is the Encoder-LLM's transformer, ``reranker`` the Reranker-LLM, ``projector`` the
injector that maps encoder vectors to reranker embeddings (plus the residual gate and the rank and
score embeddings, when configured: the model's head).
A LoRA part trains only its adapters; export merges them, so the saved folder is a plain
ResRank checkpoint that ``ResRankModel.from_pretrained`` (and transformers on each half) loads.
"""

from __future__ import annotations

import copy
from pathlib import Path

from torch import nn

from ..model import ResRankModel
from ..model.config import TRANSFORMERS
from ..model.packing import model_parts
from .config import ModelConfig, PartConfig


def _set_hf_module(model: ResRankModel, part: str, module: nn.Module) -> None:
    if part == "encoder":
        model.encoder.model = module
    else:
        model.reranker = module


def _part_config(config: ModelConfig, part: str) -> PartConfig:
    return config.encoder if part == "encoder" else config.reranker


def apply_lora(model: ResRankModel, config: ModelConfig) -> None:
    """Wrap the parts configured as ``lora`` with peft adapters (default targets per architecture)."""
    from peft import LoraConfig, get_peft_model

    for part in TRANSFORMERS:
        options = _part_config(config, part)
        if options.mode == "lora":
            lora = LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                              target_modules=options.targets)
            _set_hf_module(model, part, get_peft_model(model_parts(model)[part], lora))


def enable_gradient_checkpointing(model: ResRankModel) -> None:
    """Recompute activations in backward: memory for time, on both transformers."""
    for part in TRANSFORMERS:
        module = model_parts(model)[part]
        if hasattr(module, "enable_input_require_grads"):
            module.enable_input_require_grads()
        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def part_parameters(model: ResRankModel, part: str, config: ModelConfig) -> list[nn.Parameter]:
    """The parameters a stage that trains ``part`` updates (only the adapters of a LoRA part)."""
    if part == "projector":
        return model.head_parameters()
    named = model_parts(model)[part].named_parameters()
    if _part_config(config, part).mode == "lora":
        return [p for name, p in named if "lora_" in name]
    return [p for _, p in named]


def freeze_for_stage(model: ResRankModel, trained: list[str], config: ModelConfig) -> dict[str, list[nn.Parameter]]:
    """Freeze everything, then unfreeze the stage's parts; returns their parameters by part."""
    model.requires_grad_(False)
    chosen = {part: part_parameters(model, part, config) for part in trained}
    for parameters in chosen.values():
        for parameter in parameters:
            parameter.requires_grad_(True)
    return chosen


def export(model: ResRankModel, config: ModelConfig, directory: str | Path) -> None:
    """Save a plain ResRank folder: LoRA adapters merged into a copy, the training model untouched."""
    plain = model
    if any(_part_config(config, part).mode == "lora" for part in TRANSFORMERS):
        plain = copy.deepcopy(model)
        for part in TRANSFORMERS:
            if _part_config(config, part).mode == "lora":
                _set_hf_module(plain, part, model_parts(plain)[part].merge_and_unload())
    plain.save_pretrained(directory)
