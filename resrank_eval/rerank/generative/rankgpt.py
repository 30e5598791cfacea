"""RankGPT-style listwise reranking: the model writes a permutation ``[3] > [1] > ...`` per window."""

from __future__ import annotations

from typing import Any

from ...errors import ArgumentError
from ..base import Option
from .backend import THINKING, THINKING_TOKENS
from .hf import HFChatBackend, load_causal_lm
from .openai_chat import OpenAIChatBackend
from .permutation import named_ids, parse_permutation
from .prompt import Message, rank_llm_messages, rankgpt_messages
from .protocol import RANK_LLM_CONTEXT, fit_to_context, prompt_room, safe_openai_answer_tokens, safe_openai_tokens
from .sliding import SlidingWindowReranker, Window, WindowResult

API_BASE = Option("api_base", None, "OpenAI-compatible server URL (vLLM, SGLang, an API); --model is the served name.")
THINKING_OPTION = Option("thinking", "off", "Thinking models (Qwen3): off = disabled through the chat template (a server gets "
                         "chat_template_kwargs), on = allowed, with 10,000 more answer tokens; default = the template's or "
                         "server's own (for APIs that reject chat_template_kwargs). A <think> block is never read as the ranking.",
                         THINKING)
TEMPERATURE = Option("temperature", "0", "Sampling temperature sent to an --api-base server; 'none' sends none (as rank_llm 0.26.0 "
                     "does). Local models decode greedily.")

HTTP_TOKENS_PER_ID = 8
"""Answer budget per passage when no tokenizer is at hand: ``"[20] > "`` is at most 8 tokens in common vocabularies."""


def parse_temperature(value: str | float | None) -> float | None:
    """``temperature``: a number >= 0, or ``none`` (None: the request carries no temperature)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    try:
        temperature = float(value)
    except ValueError:
        raise ArgumentError(f"`temperature` must be a number or 'none', got {value!r}") from None
    if not temperature >= 0:
        raise ArgumentError(f"`temperature` must be at least 0, got {value!r}")
    return temperature


class RankGPTReranker(SlidingWindowReranker):
    """Permutation generation (Sun et al., 2023) over any chat backend, local or remote."""

    name = "rankgpt"
    options = (*SlidingWindowReranker.options, API_BASE, THINKING_OPTION, TEMPERATURE)

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        super().check_options(values)
        if values["thinking"] not in THINKING:  # a YAML conditions file reads an unquoted off/on as a boolean
            raise ArgumentError(f"`thinking` must be one of {', '.join(THINKING)}, got {values['thinking']!r} (quote off and on in YAML)")
        if parse_temperature(values["temperature"]) != 0 and not values.get("api_base"):
            raise ArgumentError("`temperature` applies to `api_base` servers; local models decode greedily")
        if values["protocol"] == "rank_llm":
            prompt_room(values["context_size"], safe_openai_answer_tokens(values["window"]), values["window"])

    @classmethod
    def from_pretrained(cls, model: str, device: str | None = None, dtype: str | None = None, window: int = 20,
                        thinking: str = "off", max_new_tokens: int | None = None, **sliding: Any) -> RankGPTReranker:
        """A local HF chat model (id or folder, or ``smollm2``); the answer budget defaults to a full permutation
        (plus the thinking budget when ``thinking`` is on); ``sliding``: the other :class:`SlidingWindowReranker` settings."""
        lm, tokenizer = load_causal_lm(model, device, dtype)
        permutation = len(tokenizer.encode(" > ".join(f"[{i}]" for i in range(1, window + 1)), add_special_tokens=False))
        budget = max_new_tokens or permutation + 2 + (THINKING_TOKENS if thinking == "on" else 0)  # + 2: end-of-turn slack
        return cls(HFChatBackend(lm, tokenizer, budget, thinking=thinking), window, **sliding)

    @classmethod
    def from_openai(cls, base_url: str, model: str, api_key: str | None = None, window: int = 20, stride: int = 10,
                    max_words: int = 300, protocol: str = "rankgpt", context_size: int = RANK_LLM_CONTEXT, thinking: str = "off",
                    temperature: float | None = 0.0, max_new_tokens: int | None = None, **client: Any) -> RankGPTReranker:
        """An OpenAI-compatible server (``base_url`` with or without ``/v1``); ``client`` takes
        :class:`OpenAIChatBackend`'s ``timeout_s``, ``max_retries`` and ``concurrency``."""
        budget = max_new_tokens or HTTP_TOKENS_PER_ID * window + (THINKING_TOKENS if thinking == "on" else 0)
        backend = OpenAIChatBackend(base_url, model, budget, api_key, temperature=temperature, thinking=thinking, **client)
        return cls(backend, window, stride, max_words, protocol, context_size)

    @classmethod
    def from_options(cls, api_base: str | None, temperature: str | None, device: str | None, dtype: str,
                     **values: Any) -> RankGPTReranker:
        """A local model, or the served ``model`` at ``api_base`` (where device and dtype are the server's business)."""
        if api_base:
            return cls.from_openai(api_base, temperature=parse_temperature(temperature), **values)
        return cls.from_pretrained(device=device, dtype=dtype, **values)

    def conversation(self, query: str, passages: list[str]) -> list[Message]:
        """What the protocol sends for a window; rank_llm's fitted as its ``SafeOpenai`` fits it (cl100k_base counts)."""
        labels = [str(i) for i in range(1, len(passages) + 1)]  # RankGPT's identifiers
        if self.protocol == "rankgpt":
            return rankgpt_messages(query, passages, labels, self.max_words)
        room = prompt_room(self.context_size, safe_openai_answer_tokens(self.window), self.window)
        return fit_to_context(lambda words: rank_llm_messages(query, passages, labels, words),
                              lambda m: safe_openai_tokens(m, self.backend.served_model), len(labels), self.max_words, room)

    def rank_windows(self, windows: list[Window]) -> list[WindowResult]:
        conversations = [self.conversation(*w) for w in windows]
        results = []
        for (_, passages), sent, reply in zip(windows, conversations, self.backend.generate(conversations)):
            n = len(passages)
            results.append((parse_permutation(reply.text, n), len(named_ids(reply.text, n)), sent, reply))
        return results
