"""The RankGPT prompt (Sun et al., 2023), as a chat conversation, for any identifier style.

Kept verbatim from RankGPT's ``create_permutation_instruction`` (multi-turn: each passage is a user
turn acknowledged by the assistant) so results are comparable with published RankGPT numbers.
FIRST-style ranking reuses it with letter identifiers, which every common tokenizer encodes as
one token each.
"""

from __future__ import annotations

import string

Message = dict[str, str]

SYSTEM = "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."


def numeric_labels(n: int) -> list[str]:
    """RankGPT's identifiers: ``1 .. n``."""
    return [str(i) for i in range(1, n + 1)]


def letter_labels(n: int) -> list[str]:
    """FIRST's identifiers: ``A .. Z``, so that the first generated token names a whole passage."""
    if n > len(string.ascii_uppercase):
        raise ValueError(f"letter identifiers allow windows of at most 26 passages, got {n}")
    return list(string.ascii_uppercase[:n])


def truncate_words(text: str, max_words: int) -> str:
    """RankGPT's passage budget: the first ``max_words`` whitespace-separated words."""
    return " ".join(text.replace("Title: Content: ", "").split()[:max_words])


def rankgpt_messages(query: str, passages: list[str], labels: list[str], max_words: int = 300) -> list[Message]:
    """The conversation that asks a chat model to order ``passages`` for ``query``."""
    num = len(passages)
    messages: list[Message] = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"I will provide you with {num} passages, each indicated by number identifier []. \n"
            f"Rank the passages based on their relevance to query: {query}.",
        },
        {"role": "assistant", "content": "Okay, please provide the passages."},
    ]
    for label, passage in zip(labels, passages, strict=True):
        messages.append({"role": "user", "content": f"[{label}] {truncate_words(passage, max_words)}"})
        messages.append({"role": "assistant", "content": f"Received passage [{label}]."})
    example = " > ".join(f"[{label}]" for label in labels[:2])
    messages.append(
        {
            "role": "user",
            "content": f"Search Query: {query}. \nRank the {num} passages above based on their relevance to the "
            "search query. The passages should be listed in descending order using identifiers. The most "
            f"relevant passages should be listed first. The output format should be [] > [], e.g., {example}. "
            "Only response the ranking results, do not say any word or explain.",
        }
    )
    return messages
