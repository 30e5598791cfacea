"""An OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, a hosted API) as a RankGPT backend.

Built on the ``openai`` client (installed with Pyserini): it retries 408/409/429/5xx and dropped
connections with exponential back-off, and reads token counts from the server's ``usage`` block (a
reply without them is an error: only the server's tokenizer and chat template give them exactly, and 0 would report a
baseline that cost nothing). The conversations of one batch are sent
concurrently, at most ``concurrency`` at a time. Requests go to ``/chat/completions`` with
``temperature`` (0 unless told; None sends none, as rank_llm 0.26.0's Responses API calls do) and,
unless ``thinking`` is ``default``, ``chat_template_kwargs: {"enable_thinking": ...}`` (vLLM and SGLang pass
it to the model's chat template; rank_llm sends it to such servers too).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ...errors import ResrankError
from .backend import ChatBackend, Generation
from .prompt import Message


class OpenAIChatBackend(ChatBackend):
    """Chat completions; ``api_key`` defaults to $OPENAI_API_KEY (local servers need none)."""

    device = "remote"
    dtype = "unknown"
    sampling = ("thinking", "temperature")
    temperature: float | None
    """The sampling temperature asked for (0: greedy; None: none sent, the server's default)."""

    def __init__(self, base_url: str, model: str, max_new_tokens: int, api_key: str | None = None, timeout_s: float = 600.0,
                 max_retries: int = 2, concurrency: int = 8, temperature: float | None = 0.0, thinking: str = "off") -> None:
        import openai

        if concurrency < 1:
            raise ResrankError(f"concurrency must be at least 1, got {concurrency}")
        root = base_url.rstrip("/")
        root = root if root.endswith("/v1") else root + "/v1"  # what the client appends paths to
        self.url = root + "/chat/completions"
        self.served_model = model
        self.max_new_tokens = max_new_tokens
        self.concurrency = concurrency
        self.temperature = temperature
        self.thinking = thinking
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or "none"
        self.client = openai.OpenAI(base_url=root, api_key=key, timeout=timeout_s, max_retries=max_retries)

    def generate(self, conversations: list[list[Message]]) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=min(len(conversations), self.concurrency)) as pool:
            return list(pool.map(self._complete, conversations))

    def _complete(self, messages: list[Message]) -> Generation:
        import openai

        sampling = {} if self.temperature is None else {"temperature": self.temperature}
        extra = {} if self.thinking == "default" else {"extra_body": {"chat_template_kwargs": {"enable_thinking": self.thinking == "on"}}}
        try:
            reply = self.client.chat.completions.create(model=self.served_model, messages=messages,  # type: ignore[arg-type]
                                                        max_tokens=self.max_new_tokens, **sampling, **extra)  # type: ignore[arg-type]
        except openai.APIStatusError as exc:
            raise ResrankError(f"{self.url}: HTTP {exc.status_code}: {str(exc.message)[:200]}") from None
        except openai.APIError as exc:  # connection refused, timeout, unreadable reply
            raise ResrankError(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if not reply.choices:
            raise ResrankError(f"{self.url}: reply has no choices")
        text = reply.choices[0].message.content or ""
        read, generated = (getattr(reply.usage, count, None) for count in ("prompt_tokens", "completion_tokens"))
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (read, generated)):
            raise ResrankError(f"{self.url}: the reply has no token counts (usage.prompt_tokens and usage.completion_tokens), "
                               "which every rerank's cost is made of; serve the model where replies count them (vLLM, SGLang, "
                               "llama.cpp and OpenAI do)")
        return Generation(text, read, generated, generated)
