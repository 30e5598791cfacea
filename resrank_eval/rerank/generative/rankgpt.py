"""RankGPT-style listwise reranking: the model writes a permutation ``[3] > [1] > ...`` per window."""

from __future__ import annotations

from .backend import ChatBackend
from .hf import HFChatBackend, answer_token_budget, load_causal_lm
from .openai_http import OpenAIChatBackend
from .permutation import named_ids, parse_permutation
from .prompt import numeric_labels, rankgpt_messages
from .sliding import SlidingWindowReranker, Window, WindowResult

HTTP_TOKENS_PER_ID = 8
"""Answer budget per passage when no tokenizer is at hand: ``"[20] > "`` is at most 8 tokens in common vocabularies."""


class RankGPTReranker(SlidingWindowReranker):
    """Permutation generation (Sun et al., 2023) over any chat backend, local or remote."""

    name = "rankgpt"

    def __init__(self, backend: ChatBackend, window: int = 20, stride: int = 10, max_words: int = 300, batch_size: int = 1) -> None:
        super().__init__(window, stride, max_words, batch_size)
        self.backend = backend
        self.device = backend.device
        self.dtype = backend.dtype

    @classmethod
    def from_pretrained(
        cls,
        model: str,
        device: str | None = None,
        window: int = 20,
        stride: int = 10,
        max_words: int = 300,
        max_new_tokens: int | None = None,
        batch_size: int = 1,
        dtype: str | None = None,
    ) -> RankGPTReranker:
        """A local HF chat model (id or folder, or ``smollm2``); the answer budget defaults to a full permutation."""
        lm, tokenizer = load_causal_lm(model, device, dtype)
        budget = max_new_tokens or answer_token_budget(tokenizer, window)
        return cls(HFChatBackend(lm, tokenizer, budget), window, stride, max_words, batch_size)

    @classmethod
    def from_openai(
        cls,
        base_url: str,
        model: str,
        api_key: str | None = None,
        window: int = 20,
        stride: int = 10,
        max_words: int = 300,
        max_new_tokens: int | None = None,
        batch_size: int = 1,
    ) -> RankGPTReranker:
        """An OpenAI-compatible server (``base_url`` with or without ``/v1``); ``api_key`` defaults to $OPENAI_API_KEY."""
        budget = max_new_tokens or HTTP_TOKENS_PER_ID * window
        return cls(OpenAIChatBackend(base_url, model, budget, api_key), window, stride, max_words, batch_size)

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
