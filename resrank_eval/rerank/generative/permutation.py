"""The two pure pieces of RankGPT-style reranking: which windows to visit, and reading an answer.

Both are pure functions so their edge cases (short lists, junk answers) are unit-tested without
a model. The answer rules accept what rank_llm 0.26.0's ``clean_ranking_response`` accepts where that
is unambiguous (``tests/rerank/test_rankgpt_parse.py`` has one case per rule, and the answers rank_llm itself
parsed): a ``<think>`` block is skipped, look-alike digits (circled, superscript, full-width) count as
digits, ``[2.1]`` names 2 then 1. Stricter than rank_llm: numbers outside brackets are read only when
the answer has no bracketed id at all, and thinking cut off before ``</think>`` names nothing.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[\s*\d+(?:\s*[.,]\s*\d+)*\s*\]")
_NUMBER = re.compile(r"\d+")
_LOOKALIKE_DIGITS = str.maketrans(
    "⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉①②③④⑤⑥⑦⑧⑨❶❷❸❹❺❻❼❽❾０１２３４５６７８９🄀🄁🄂🄃🄄🄅🄆🄇🄈🄉",
    "0123456789" "0123456789" "123456789" "123456789" "0123456789" "0123456789",
)
"""rank_llm's table of characters models write for digits (superscript, subscript, circled, full-width, with full stop)."""


def check_window(window: int, stride: int) -> None:
    """Reject shapes that would skip passages (stride > window) or never advance (stride <= 0)."""
    if window < 1 or not 0 < stride <= window:
        raise ValueError(f"need window >= 1 and 0 < stride <= window, got window={window}, stride={stride}")


def window_schedule(n: int, window: int = 20, stride: int = 10) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` spans, back to front, the last one always starting at rank 0.

    RankGPT's own loop stops once ``start`` goes negative, so for lists that are not a multiple
    of the stride the top ranks were never reranked; here the final window is clamped to 0
    instead (rank_llm's fix). For 100 candidates, window 20, stride 10: 9 windows, 80-100 first.
    """
    check_window(window, stride)
    spans: list[tuple[int, int]] = []
    for end in range(n, 0, -stride):
        spans.append((max(end - window, 0), end))
        if end <= window:
            break
    return spans


def ranking_part(text: str) -> str:
    """What an answer says after its thinking: the text after the last ``</think>``; nothing if thinking never ended.

    A thinking model cut off by its answer budget mid-thought has named no ranking; the ids in its
    thoughts are not one (rank_llm reads them; here the window keeps its order).
    """
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    return "" if "<think>" in text else text


def named_ids(text: str, n: int) -> list[int]:
    """The distinct in-range identifiers an answer names, as 0-based positions, in answer order.

    Identifiers are 1-based. Bracketed ids are preferred (so numbers in chatter such as "here are
    20 passages" are ignored); when the answer has none, bare integers are read, as RankGPT does.
    Out-of-range ids and repeats are dropped.
    """
    answer = ranking_part(text).translate(_LOOKALIKE_DIGITS)
    ids = (int(number) - 1 for number in _NUMBER.findall(" ".join(_BRACKETED.findall(answer)) or answer))
    return list(dict.fromkeys(i for i in ids if 0 <= i < n))


def parse_permutation(text: str, n: int) -> list[int]:
    """Turn an answer like ``"[3] > [1] > [2]"`` into a full permutation of ``range(n)``.

    Ids the model never named follow the named ones in their original relative order, so a
    useless answer leaves the window unchanged.
    """
    return list(dict.fromkeys([*named_ids(text, n), *range(n)]))
