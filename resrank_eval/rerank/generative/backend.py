"""What a RankGPT-style reranker needs from a language model: chat in, answer text and its cost out.

Local Hugging Face models (``hf.py``) and OpenAI-compatible servers (``openai_chat.py``) both
implement :class:`ChatBackend`, so the sliding-window logic never knows where the model runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ...model.flops import Shape
from .prompt import Message


@dataclass(frozen=True)
class Generation:
    """One answer and what it cost: prompt tokens read, tokens generated, model forward passes."""

    text: str
    input_tokens: int
    generated_tokens: int
    forward_passes: int


THINKING = ("off", "on", "default")
"""Thinking models (Qwen3): ``off`` disables thinking through the chat template (``enable_thinking=False``, for a server
in ``chat_template_kwargs``), ``on`` enables it with :data:`THINKING_TOKENS` more answer budget, ``default`` leaves the
template's (or server's) default and sends no such field (for APIs that reject it)."""

THINKING_TOKENS = 10_000
"""Answer budget added for thinking (rank_llm's ``reasoning_token_budget``)."""


class ChatBackend(ABC):
    """Answers a batch of chat conversations greedily; ``device``/``dtype`` go into the stats.

    ``shape`` is the model's (for FLOPs), None where it is unknown (a remote server). ``max_new_tokens`` is the
    answer budget, ``served_model`` the name a server knows the model by ("" for a local model). ``sampling`` names
    the settings the protocol record states (a server adds ``temperature``; a local model decodes greedily).
    """

    device: str = "cpu"
    dtype: str = "float32"
    shape: Shape | None = None
    max_new_tokens: int = 0
    served_model: str = ""
    thinking: str = "off"
    sampling: tuple[str, ...] = ("thinking",)

    @abstractmethod
    def generate(self, conversations: list[list[Message]]) -> list[Generation]:
        """One greedy answer per conversation, in order."""
