"""The pure pieces of RankGPT-style reranking: window schedule, answer parsing, prompt."""

from __future__ import annotations

import pytest

from resrank_eval.rerank.generative.permutation import named_ids, parse_permutation, window_schedule
from resrank_eval.rerank.generative.prompt import letter_labels, numeric_labels, rankgpt_messages, truncate_words


def test_schedule_over_top100_is_nine_windows_back_to_front() -> None:
    spans = window_schedule(100, 20, 10)
    assert spans == [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40), (10, 30), (0, 20)]


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, []),
        (7, [(0, 7)]),
        (20, [(0, 20)]),
        (25, [(5, 25), (0, 15)]),
        (95, [(75, 95), (65, 85), (55, 75), (45, 65), (35, 55), (25, 45), (15, 35), (5, 25), (0, 15)]),
    ],
)
def test_schedule_always_reaches_the_top(n: int, expected: list[tuple[int, int]]) -> None:
    assert window_schedule(n, 20, 10) == expected


def test_schedule_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        window_schedule(100, 20, 0)
    with pytest.raises(ValueError):
        window_schedule(100, 10, 20)


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("[3] > [1] > [2]", 3, [2, 0, 1]),
        ("[2] > [1]", 4, [1, 0, 2, 3]),  # missing ids keep their original relative order
        ("Sure! Here are the 20 passages ranked: [2] > [3] > [1]", 3, [1, 2, 0]),  # chatter numbers ignored
        ("[2] > [2] > [1] > [2]", 3, [1, 0, 2]),  # duplicates: first occurrence wins
        ("[7] > [0] > [3] > [-1] > [1]", 4, [2, 0, 1, 3]),  # out-of-range ids dropped
        ("3 > 1 > 2", 3, [2, 0, 1]),  # bare numbers when no brackets at all
        ("[ 2 ]>[1]", 2, [1, 0]),
        ("I cannot rank these passages.", 3, [0, 1, 2]),  # useless answer: window unchanged
        ("", 0, []),
        ("[2] > [1] > [3", 3, [1, 0, 2]),  # truncated answer
    ],
)
def test_parse_permutation(text: str, n: int, expected: list[int]) -> None:
    order = parse_permutation(text, n)
    assert order == expected
    assert sorted(order) == list(range(n))


def test_named_ids_counts_only_valid_distinct_ids() -> None:
    assert named_ids("[5] > [2] > [2] > [9]", 5) == [4, 1]


def test_prompt_is_rankgpts_conversation() -> None:
    long = " ".join(f"w{i}" for i in range(500))
    messages = rankgpt_messages("what is a flea", ["first passage", long], numeric_labels(2), max_words=300)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert messages[3]["content"] == "[1] first passage"
    assert messages[5]["content"] == "[2] " + truncate_words(long, 300)
    assert len(messages[5]["content"].split()) == 301
    assert "Search Query: what is a flea." in messages[-1]["content"]
    assert "e.g., [1] > [2]" in messages[-1]["content"]


def test_letter_labels_cap_at_26() -> None:
    assert letter_labels(3) == ["A", "B", "C"]
    with pytest.raises(ValueError):
        letter_labels(27)
