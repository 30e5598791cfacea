"""RankGPT-style listwise reranking: the model writes a permutation ``[3] > [1] > ...`` per window."""

from __future__ import annotations

from typing import Any

from ..base import Option
from .backend import ChatBackend
from .hf import HFChatBackend, answer_token_budget, load_causal_lm
from .openai_chat import OpenAIChatBackend
from .permutation import named_ids, parse_permutation
from .prompt import numeric_labels, rankgpt_messages
from .sliding import SlidingWindowReranker, Window, WindowResult

API_BASE = Option("api_base", None, "OpenAI-compatible server URL (vLLM, SGLang, an API); --model is the served name.")

HTTP_TOKENS_PER_ID = 8
"""Answer budget per passage when no tokenizer is at hand: ``"[20] > "`` is at most 8 tokens in common vocabularies."""


class RankGPTReranker(SlidingWindowReranker):
    """Permutation generation (Sun et al., 2023) over any chat backend, local or remote."""

    name = "rankgpt"
    options = (*SlidingWindowReranker.options, API_BASE)

    def __init__(self, backend: ChatBackend, window: int = 20, stride: int = 10, max_words: int = 300) -> None:
        super().__init__(window, stride, max_words)
        self.backend = backend
        self.device = backend.device
        self.dtype = backend.dtype

    @classmethod
    def from_pretrained(cls, model: str, device: str | None = None, dtype: str | None = None, window: int = 20,
                        stride: int = 10, max_words: int = 300, max_new_tokens: int | None = None) -> RankGPTReranker:
        """A local HF chat model (id or folder, or ``smollm2``); the answer budget defaults to a full permutation."""
        lm, tokenizer = load_causal_lm(model, device, dtype)
        budget = max_new_tokens or answer_token_budget(tokenizer, window)
        return cls(HFChatBackend(lm, tokenizer, budget), window, stride, max_words)

    @classmethod
    def from_openai(cls, base_url: str, model: str, api_key: str | None = None, window: int = 20, stride: int = 10,
                    max_words: int = 300, max_new_tokens: int | None = None, **client: Any) -> RankGPTReranker:
        """An OpenAI-compatible server (``base_url`` with or without ``/v1``); ``client`` takes
        :class:`OpenAIChatBackend`'s ``timeout_s``, ``max_retries`` and ``concurrency``."""
        budget = max_new_tokens or HTTP_TOKENS_PER_ID * window
        return cls(OpenAIChatBackend(base_url, model, budget, api_key, **client), window, stride, max_words)

    @classmethod
    def from_options(cls, api_base: str | None = None, **values: Any) -> RankGPTReranker:
        """A local model, or the served ``model`` at ``api_base`` (where device and dtype are the server's business)."""
        if api_base:
            return cls.from_openai(api_base, values["model"], window=values["window"], stride=values["stride"],
                                   max_words=values["max_words"])
        return cls.from_pretrained(**values)

    def rank_windows(self, windows: list[Window]) -> list[WindowResult]:
        conversations = [rankgpt_messages(w.query, w.passages, numeric_labels(len(w.passages)), self.max_words) for w in windows]
        results = []
        for window, answer in zip(windows, self.backend.generate(conversations)):
            n = len(window.passages)
            results.append(
                WindowResult(
                    parse_permutation(answer.text, n),
                    len(named_ids(answer.text, n)),
                    answer.input_tokens,
                    answer.generated_tokens,
                    answer.forward_passes,
                )
            )
        return results
