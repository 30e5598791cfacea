"""The two pure pieces of RankGPT-style reranking: which windows to visit, and reading an answer.

Both are pure functions so their edge cases (short lists, junk answers) are unit-tested without
a model.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_BARE = re.compile(r"\d+")


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
    end = n
    while end > 0:
        start = max(end - window, 0)
        spans.append((start, end))
        if start == 0:
            break
        end -= stride
    return spans


def named_ids(text: str, n: int) -> list[int]:
    """The distinct in-range identifiers an answer names, as 0-based positions, in answer order.

    Identifiers are 1-based. Bracketed ids are preferred (so numbers in chatter such as "here are
    20 passages" are ignored); when the answer has none, bare integers are read, as RankGPT does.
    Out-of-range ids and repeats are dropped.
    """
    order: list[int] = []
    for token in _BRACKETED.findall(text) or _BARE.findall(text):
        index = int(token) - 1
        if 0 <= index < n and index not in order:
            order.append(index)
    return order


def parse_permutation(text: str, n: int) -> list[int]:
    """Turn an answer like ``"[3] > [1] > [2]"`` into a full permutation of ``range(n)``.

    Ids the model never named follow the named ones in their original relative order, so a
    useless answer leaves the window unchanged.
    """
    order = named_ids(text, n)
    named = set(order)
    return order + [i for i in range(n) if i not in named]
