"""The pure pieces of RankGPT-style reranking: window schedule, answer parsing, prompt."""

from __future__ import annotations

import gzip
import json

import pytest

from resrank_eval.rerank.generative.permutation import named_ids, parse_permutation, ranking_part, window_schedule
from resrank_eval.rerank.generative.prompt import (
    letter_labels,
    rank_llm_content,
    rank_llm_messages,
    rankgpt_messages,
    truncate_words,
)
from resrank_eval.types import Passage
from tests.helpers import PROTOCOL_FIXTURES


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
        # what rank_llm 0.26.0 accepts too (clean_ranking_response), one case per rule:
        ("<think>\n[1] looks best, then [3]\n</think>\n\n[3] > [2] > [1]", 3, [2, 1, 0]),  # thinking skipped
        ("<think>a</think>[1]<think>b [3]</think>[2] > [3]", 3, [1, 2, 0]),  # only what follows the last </think>
        ("② > ③ > ①", 3, [1, 2, 0]),  # circled digits
        ("[❸] > [❶]", 3, [2, 0, 1]),  # negative circled digits, bracketed
        ("[¹] > [³]", 3, [0, 2, 1]),  # superscripts
        ("[２] > [１]", 3, [1, 0, 2]),  # full-width digits
        ("[2.1] > [3]", 3, [1, 0, 2]),  # rank_llm reads every digit run: [2.1] names 2, then 1
        ("[3] > [2, 1]", 3, [2, 1, 0]),
        # stricter than rank_llm:
        ("<think>\nmaybe [3] > [1] but", 3, [0, 1, 2]),  # thinking cut off by the budget names no ranking
        ("1. [3]\n2. [1]\n3. [2]", 3, [2, 0, 1]),  # list numbering outside brackets is not an id
    ],
)
def test_parse_permutation(text: str, n: int, expected: list[int]) -> None:
    order = parse_permutation(text, n)
    assert order == expected
    assert sorted(order) == list(range(n))


def test_answers_rank_llm_parsed_are_read_alike_but_where_stricter() -> None:
    """rank_llm 0.26.0's receive_permutation on the sample answers (tests/data/protocols): the same order, except two rules."""
    stricter = {"<think>\nStill thinking about [3] and [1]", "1. [3]\n2. [1]\n3. [2]"}
    parses = json.loads(gzip.open(PROTOCOL_FIXTURES / "parses.json.gz").read())["items"]
    assert len(parses) == 24
    for item in parses:
        ours = parse_permutation(item["answer"], item["window"])
        assert (ours != item["rank_llm"]) == (item["answer"] in stricter), item


def test_ranking_part_of_an_answer() -> None:
    assert ranking_part("<think>x</think>\n[2] > [1]") == "\n[2] > [1]"
    assert ranking_part("<think>unfinished [1]") == ""
    assert ranking_part("[2] > [1]") == "[2] > [1]"


def test_named_ids_counts_only_valid_distinct_ids() -> None:
    assert named_ids("[5] > [2] > [2] > [9]", 5) == [4, 1]


def test_prompt_is_rankgpts_conversation() -> None:
    long = " ".join(f"w{i}" for i in range(500))
    messages = rankgpt_messages("what is a flea", ["first passage", long], ["1", "2"], max_words=300)
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


def test_rank_llm_passage_rules() -> None:
    """rank_llm's passage: ftfy's repair, [n] -> (n), Title/Content, words counted after the repair."""
    assert rank_llm_content("cafÃ© au lait [1] and [2b]", 300) == "café au lait (1) and [2b]"
    assert rank_llm_content(Passage("Flea", "A flea lives [3] weeks."), 300) == "Title: Flea Content: A flea lives (3) weeks."
    assert rank_llm_content(Passage("", "untitled"), 300) == "untitled"
    assert rank_llm_content("  one  two\nthree four ", 3) == "one two three"


def test_rankgpt_shows_titles_as_its_candidate_files_do() -> None:
    """RankGPT's retrieval wrote BEIR documents as ``Title: t Content: x``; an empty title disappears."""
    assert truncate_words(Passage("Flea", "A  flea [3]."), 300) == "Title: Flea Content: A flea [3]."
    assert truncate_words(Passage("", "A flea."), 300) == "A flea."
    assert truncate_words("Flea A flea.", 2) == "Flea A"


def test_rank_llm_prompt_differs_from_rankgpts_where_the_issue_says() -> None:
    ours, theirs = rankgpt_messages("q [1]", ["p"], ["1"]), rank_llm_messages("q [1]", ["p"], ["1"])
    assert ours[1]["content"].startswith("I will provide you with 1 passages, each indicated by number identifier []. \n")
    assert theirs[1]["content"].startswith("I will provide you with 1 passages, each indicated by number identifier [].\n")
    assert theirs[-1]["content"].startswith("Search Query: q (1).\nRank") and ours[-1]["content"].startswith("Search Query: q [1]. \nRank")
