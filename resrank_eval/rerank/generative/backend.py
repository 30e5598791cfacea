"""What a RankGPT-style reranker needs from a language model: chat in, answer text and its cost out.

Local Hugging Face models (``hf.py``) and OpenAI-compatible servers (``openai_chat.py``) both
implement :class:`ChatBackend`, so the sliding-window logic never knows where the model runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from .prompt import Message


@dataclass(frozen=True)
class Generation:
    """One answer and what it cost: prompt tokens read, tokens generated, model forward passes."""

    text: str
    input_tokens: int
    generated_tokens: int
    forward_passes: int


class ChatBackend(ABC):
    """Answers a batch of chat conversations greedily; ``device``/``dtype`` go into the stats."""

    device: str = "cpu"
    dtype: str = "float32"

    @abstractmethod
    def generate(self, conversations: list[list[Message]]) -> list[Generation]:
        """One greedy answer per conversation, in order."""
