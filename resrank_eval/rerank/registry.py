"""Reranker names the CLI accepts, built lazily so unused backends (torch, HTTP) never load."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ResrankError
from .base import Reranker

RERANKERS = ("identity", "resrank", "encoder", "rankgpt", "first")


@dataclass(frozen=True)
class RerankerOptions:
    """Every knob a reranker can take from the CLI; each reranker reads the ones it has."""

    device: str | None = None
    batch_size: int = 1
    dense_index: str | None = None
    window: int = 20
    stride: int = 10
    max_words: int = 300
    api_base: str | None = None
    engine: str = "fast"


def build_reranker(name: str, model: str | None, options: RerankerOptions = RerankerOptions()) -> Reranker:
    """Construct a reranker by name: ``model`` is a checkpoint dir, preset, HF id or served model name."""
    if name == "identity":
        from .identity import IdentityReranker

        return IdentityReranker()
    if name not in RERANKERS:
        raise ResrankError(f"unknown reranker {name!r}; choose one of {', '.join(RERANKERS)}")
    if not model:
        raise ResrankError(f"reranker {name!r} needs --model (a checkpoint dir, preset or HF id)")
    if name in ("resrank", "encoder"):
        from .resrank import EncoderReranker, ResRankReranker

        cls = ResRankReranker if name == "resrank" else EncoderReranker
        return cls.from_pretrained(model, device=options.device, batch_size=options.batch_size, embeddings=options.dense_index,
                                   engine=options.engine)
    from .generative import FirstReranker, RankGPTReranker

    window = {"window": options.window, "stride": options.stride, "max_words": options.max_words, "batch_size": options.batch_size}
    if options.api_base:
        if name != "rankgpt":
            raise ResrankError("--api-base serves only --reranker rankgpt (FIRST needs the logits of a local model)")
        return RankGPTReranker.from_openai(options.api_base, model, **window)
    cls = RankGPTReranker if name == "rankgpt" else FirstReranker
    return cls.from_pretrained(model, device=options.device, **window)
