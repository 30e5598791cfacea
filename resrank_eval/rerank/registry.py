"""Reranker names the CLI accepts, built lazily so unused backends (torch, HTTP) never load."""

from __future__ import annotations

from typing import Any

from ..errors import ResrankError
from .base import Reranker

RERANKERS = ("identity", "resrank", "encoder", "rankgpt", "first")


def build_reranker(name: str, model: str | None = None, **options: Any) -> Reranker:
    """Construct a reranker by name; ``options`` are passed to its ``from_pretrained``."""
    if name == "identity":
        from .identity import IdentityReranker

        return IdentityReranker()
    if name not in RERANKERS:
        raise ResrankError(f"unknown reranker {name!r}; choose one of {', '.join(RERANKERS)}")
    if not model:
        raise ResrankError(f"reranker {name!r} needs --model (a checkpoint dir, HF id or preset)")
    if name in ("resrank", "encoder"):
        from .resrank import EncoderReranker, ResRankReranker

        cls = ResRankReranker if name == "resrank" else EncoderReranker
    else:
        from .rankgpt import FirstReranker, RankGPTReranker

        cls = RankGPTReranker if name == "rankgpt" else FirstReranker
    return cls.from_pretrained(model, **{k: v for k, v in options.items() if v is not None})
