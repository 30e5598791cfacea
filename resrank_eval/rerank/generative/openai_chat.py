"""An OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, a hosted API) as a RankGPT backend.

Plain ``urllib``: no client library, so it works wherever the standard library does. Token counts
come from the server's ``usage`` block; a server that omits it is reported as 0 tokens.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ...errors import ResrankError
from .backend import ChatBackend, Generation
from .prompt import Message


def completions_url(base_url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1`` -> ``http://host:8000/v1/chat/completions``."""
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return f"{base}/chat/completions"


class OpenAIChatBackend(ChatBackend):
    """POSTs each conversation to ``/v1/chat/completions`` at temperature 0; a batch is sent concurrently."""

    device = "remote"

    def __init__(self, base_url: str, model: str, max_new_tokens: int, api_key: str | None = None, timeout_s: float = 600.0) -> None:
        self.url = completions_url(base_url)
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s
        self.dtype = "unknown"

    def generate(self, conversations: list[list[Message]]) -> list[Generation]:
        if len(conversations) == 1:
            return [self._complete(conversations[0])]
        with ThreadPoolExecutor(max_workers=len(conversations)) as pool:
            return list(pool.map(self._complete, conversations))

    def _complete(self, messages: list[Message]) -> Generation:
        body = {"model": self.model, "messages": messages, "max_tokens": self.max_new_tokens, "temperature": 0}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            raise ResrankError(f"{self.url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise ResrankError(f"{self.url}: {getattr(exc, 'reason', exc)}") from None
        try:
            text = reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ResrankError(f"{self.url}: reply has no choices[0].message.content") from None
        usage = reply.get("usage") or {}
        generated = int(usage.get("completion_tokens", 0))
        return Generation(text, int(usage.get("prompt_tokens", 0)), generated, generated)
