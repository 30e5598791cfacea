"""The conversations RankGPT-style rerankers send, byte for byte as the code users cite builds them.

Two protocols (``protocol.py`` names and versions them):

- ``rankgpt``: the original RankGPT (Sun et al., 2023; sunnweiwei/RankGPT ``create_permutation_instruction``),
  multi-turn, each passage a user turn acknowledged by the assistant, the first 300 words of each;
- ``rank_llm``: rank_llm 0.26.0's templates -- its RankGPT template (the same turns, no space before the
  line breaks, the query and passages with ``[n]`` rewritten to ``(n)``, passages repaired with ftfy) and,
  for FIRST-style ranking, the alphabetical RankZephyr template of its FirstMistral path (one user turn).

Passages with a title (:class:`~resrank_eval.types.Passage`) show ``Title: ... Content: ...`` in both,
as RankGPT's retrieval code and rank_llm's prompt code write them. ``tests/data/protocols`` holds the
peers' own renderings these are compared with.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from functools import lru_cache

from ...formats.content import UNTITLED, hit_content
from ...types import Passage

Message = dict[str, str]

SYSTEM = "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
RANK_LLM_FIRST_SYSTEM = "You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to the query"

_BRACKETED_NUMBER = re.compile(r"\[(\d+)\]")


def letter_labels(n: int) -> list[str]:
    """FIRST's identifiers: ``A .. Z``, so that the first generated token names a whole passage."""
    if n > len(string.ascii_uppercase):
        raise ValueError(f"letter identifiers allow windows of at most 26 passages, got {n}")
    return list(string.ascii_uppercase[:n])


def truncate_words(text: str, max_words: int) -> str:
    """RankGPT's passage: its candidate files' title form, an empty ``Title: Content:`` dropped, the first ``max_words`` words."""
    content = " ".join(hit_content(text).split()) if isinstance(text, Passage) and text.title else text
    return " ".join(content.replace(UNTITLED, "").split()[:max_words])


@lru_cache(maxsize=4096)
def _repaired_words(text: str) -> list[str]:
    """A passage's words after ftfy's repair; remembered, as context fitting renders the same passages repeatedly."""
    from ftfy import fix_text

    return fix_text(text.strip()).split()


def rank_llm_content(text: str, max_words: int) -> str:
    """rank_llm's passage: title form, ftfy's repair (mojibake, HTML entities), the first ``max_words`` words, ``[n]`` -> ``(n)``."""
    return _BRACKETED_NUMBER.sub(r"(\1)", " ".join(_repaired_words(hit_content(text))[:max_words]))


def _turns(query: str, passages: list[str], labels: list[str], content: Callable[[str], str], space: str,
           example: str) -> list[Message]:
    """RankGPT's multi-turn conversation, each passage a user turn acknowledged by the assistant; ``space`` goes before
    the two line breaks (the original's ``" "``, rank_llm's ``""``), ``example`` is the answer format's example."""
    num = len(passages)
    messages: list[Message] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"I will provide you with {num} passages, each indicated by number identifier [].{space}\n"
                                    f"Rank the passages based on their relevance to query: {query}."},
        {"role": "assistant", "content": "Okay, please provide the passages."},
    ]
    for label, passage in zip(labels, passages, strict=True):
        messages.append({"role": "user", "content": f"[{label}] {content(passage)}"})
        messages.append({"role": "assistant", "content": f"Received passage [{label}]."})
    messages.append({"role": "user", "content": f"Search Query: {query}.{space}\nRank the {num} passages above based on their "
                     "relevance to the search query. The passages should be listed in descending order using identifiers. The "
                     f"most relevant passages should be listed first. The output format should be [] > [], e.g., {example}. "
                     "Only response the ranking results, do not say any word or explain."})
    return messages


def rankgpt_messages(query: str, passages: list[str], labels: list[str], max_words: int = 300) -> list[Message]:
    """The original RankGPT conversation that asks a chat model to order ``passages`` for ``query``."""
    return _turns(query, passages, labels, lambda passage: truncate_words(passage, max_words), " ",
                  " > ".join(f"[{label}]" for label in labels[:2]))


def rank_llm_messages(query: str, passages: list[str], labels: list[str], max_words: int = 300) -> list[Message]:
    """rank_llm 0.26.0's ``rank_gpt_template.yaml`` conversation (its ``SafeOpenai`` sends this); ``[n]`` in the query
    becomes ``(n)``."""
    return _turns(_BRACKETED_NUMBER.sub(r"(\1)", query), passages, labels, lambda passage: rank_llm_content(passage, max_words),
                  "", "[1] > [2]")


def rank_llm_first_messages(query: str, passages: list[str], labels: list[str], max_words: int = 300) -> list[Message]:
    """rank_llm 0.26.0's ``rank_zephyr_alpha_template.yaml`` conversation (its FirstMistral-style path renders this)."""
    num, query = len(passages), _BRACKETED_NUMBER.sub(r"(\1)", query)
    body = "".join(f"[{label}] {rank_llm_content(passage, max_words)}\n" for label, passage in zip(labels, passages, strict=True))
    user = (f"I will provide you with {num} passages, each indicated by an alphabetical identifier []. Rank the passages based "
            f"on their relevance to the search query: {query}.\n{body}Search Query: {query}.\nRank the {num} passages above "
            "based on their relevance to the search query. All the passages should be included and listed using identifiers, "
            "in descending order of relevance. The output format should be [] > [], e.g., [B] > [A], Answer concisely and "
            "directly and only respond with the ranking results, do not say any word or explain.")
    return [{"role": "system", "content": RANK_LLM_FIRST_SYSTEM}, {"role": "user", "content": user}]
