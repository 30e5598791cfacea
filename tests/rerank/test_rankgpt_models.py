"""RankGPT- and FIRST-style rerankers on tiny random Llama/Qwen3 models and on the real SmolLM2-135M."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerBase, Qwen3Config

from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model.loading import load_tokenizer
from resrank_eval.model.sources import resolve_source
from resrank_eval.rerank import Reranked, rerank, to_rankings
from resrank_eval.rerank.generative import FirstReranker, RankGPTReranker
from resrank_eval.rerank.generative.hf import HFChatBackend
from resrank_eval.types import Candidate, Query, Ranking
from tests.helpers import DL19_CANDIDATES
from tests.tiny_models import SAMPLE_TEXT, train_bpe_tokenizer


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerBase:
    """SmolLM2's real BPE vocabulary and chat template (read from the offline GGUF file)."""
    return load_tokenizer(resolve_source("smollm2"))


def tiny_model(kind: str, vocab_size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    shape = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2)
    config = Qwen3Config(head_dim=8, **shape) if kind == "qwen3" else LlamaConfig(**shape)
    return AutoModelForCausalLM.from_config(config).eval()


def rankings(n_queries: int, n_candidates: int) -> list[Ranking]:
    return [
        Ranking(
            Query(f"q{q}", f"query number {q} about fleas"),
            [Candidate(f"d{q}-{i}", 100.0 - i, f"passage {i} " + "about fleas and dogs " * (i % 4)) for i in range(n_candidates)],
        )
        for q in range(n_queries)
    ]


def check_permutation(results: list[Reranked], given: list[Ranking]) -> None:
    for result, ranking in zip(results, given, strict=True):
        assert sorted(c.docid for c in result.candidates) == sorted(ranking.docids)
        scores = [c.score for c in result.candidates]
        assert all(a > b for a, b in zip(scores, scores[1:]))
        assert result.stats.qid == ranking.query.qid


@pytest.mark.parametrize("kind", ["llama", "qwen3"])
def test_rankgpt_on_tiny_model_records_every_window(kind: str, tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_model(kind, len(tokenizer))
    reranker = RankGPTReranker(HFChatBackend(model, tokenizer, max_new_tokens=6), window=4, stride=2, max_words=5)
    given = rankings(2, 7)
    results = rerank(reranker, given)
    check_permutation(results, given)
    stats = results[0].stats
    windows = stats.extra["windows"]
    assert [(w["start"], w["end"]) for w in windows] == [(3, 7), (1, 5), (0, 3)]
    assert stats.reranker == "rankgpt"
    assert stats.generated_tokens == sum(w["generated_tokens"] for w in windows) > 0
    assert stats.reranker_input_tokens == sum(w["input_tokens"] for w in windows) > 100
    assert stats.forward_passes == sum(w["forward_passes"] for w in windows) == stats.generated_tokens
    assert stats.total_ms == pytest.approx(sum(w["ms"] for w in windows))


def test_rankgpt_batching_matches_one_by_one(tokenizer: PreTrainedTokenizerBase) -> None:
    """Left padding with mask-derived positions: a batch answers exactly what single queries answer."""
    model = tiny_model("llama", len(tokenizer))
    given = rankings(3, 5)
    given[1].candidates = given[1].candidates[:3]  # unequal prompt lengths and window counts
    alone = rerank(RankGPTReranker(HFChatBackend(model, tokenizer, 6, min_new_tokens=6), window=4, stride=2), given)
    batched = rerank(RankGPTReranker(HFChatBackend(model, tokenizer, 6, min_new_tokens=6), window=4, stride=2), given, batch_size=3)
    assert [r.candidates for r in batched] == [r.candidates for r in alone]
    assert [r.stats.generated_tokens for r in batched] == [r.stats.generated_tokens for r in alone]
    assert [r.stats.reranker_input_tokens for r in batched] == [r.stats.reranker_input_tokens for r in alone]
    assert all(r.stats.batch_size == 3 for r in batched)


@pytest.mark.parametrize("kind", ["llama", "qwen3"])
def test_first_batching_matches_one_by_one(kind: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """FIRST's one forward pass over a batch of windows of unequal prompt lengths orders each window by the logits it gets
    alone: the same candidates, window orders and token counts as one query at a time (right padding fails this: the last
    column, whose logits are read, is then a shorter prompt's padding)."""
    model = tiny_model(kind, len(tokenizer))
    given = rankings(3, 9)
    given[1].candidates = given[1].candidates[:5]  # unequal window counts, and so prompt lengths in a step
    given[2].query = Query("q2", "a much longer query number 2 about fleas, ticks and the dogs and cats they live on")
    alone = rerank(FirstReranker(model, tokenizer, window=6, stride=3), given)
    batched = rerank(FirstReranker(model, tokenizer, window=6, stride=3), given, batch_size=3)
    assert [r.candidates for r in batched] == [r.candidates for r in alone]
    assert [[t["permutation"] for t in r.trace] for r in batched] == [[t["permutation"] for t in r.trace] for r in alone]
    assert [[w["input_tokens"] for w in r.stats.extra["windows"]] for r in batched] == \
        [[w["input_tokens"] for w in r.stats.extra["windows"]] for r in alone]
    assert [(r.stats.reranker_input_tokens, r.stats.generated_tokens, r.stats.forward_passes) for r in batched] == \
        [(r.stats.reranker_input_tokens, r.stats.generated_tokens, r.stats.forward_passes) for r in alone]
    assert all(r.stats.batch_size == 3 for r in batched)


def test_rankgpt_counts_a_querys_own_forward_passes_in_a_batch(tokenizer: PreTrainedTokenizerBase) -> None:
    """A window's forward passes are those of its own answer (the prefill makes the first token, one step each later one),
    as a server's are counted: in a batch, the steps run on for a longer answer beside it are not its passes."""
    from resrank_eval.rerank.generative.hf import chat_texts, encode_texts

    model = tiny_model("llama", len(tokenizer))
    given = [Ranking(Query(f"q{i}", query), [Candidate("a", 2.0, passage), Candidate("b", 1.0, passage + " too")])
             for i, (query, passage) in enumerate([("capital of France", "Paris is the capital of France"),
                                                   ("statins", "statins lower cholesterol")])]
    reranker = RankGPTReranker(HFChatBackend(model, tokenizer, 6), window=2, stride=2)
    answers = []
    for ranking in given:
        prompt = encode_texts(tokenizer, chat_texts(tokenizer, [reranker.conversation(ranking.query.text, [c.text for c in ranking.candidates])]),
                              model.device)
        answer = model.generate(**prompt, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        answers.append(answer[0, prompt["input_ids"].shape[1]:].tolist())
    model.generation_config.eos_token_id = next(t for t in answers[0] if t not in answers[1])  # the first answer ends early
    alone = [rerank(RankGPTReranker(HFChatBackend(model, tokenizer, 6), window=2, stride=2), [r])[0].stats for r in given]
    batched = [r.stats for r in rerank(RankGPTReranker(HFChatBackend(model, tokenizer, 6), window=2, stride=2), given, batch_size=2)]
    assert alone[0].generated_tokens < alone[1].generated_tokens == 6
    assert [s.forward_passes for s in batched] == [s.forward_passes for s in alone] == [s.generated_tokens for s in alone]
    assert [s.flops for s in batched] == [s.flops for s in alone]


def test_first_one_forward_pass_per_window(tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_model("qwen3", len(tokenizer))
    given = rankings(2, 25)
    results = rerank(FirstReranker(model, tokenizer, window=20, stride=10, max_words=3), given, batch_size=2)
    check_permutation(results, given)
    stats = results[0].stats
    assert stats.reranker == "first"
    assert len(stats.extra["windows"]) == 2
    assert stats.generated_tokens == stats.forward_passes == 2


def test_reranking_needs_passage_text(tokenizer: PreTrainedTokenizerBase) -> None:
    model = tiny_model("llama", len(tokenizer))
    ranking = Ranking(Query("q", "query"), [Candidate("d1", 1.0), Candidate("d2", 0.5)])
    with pytest.raises(ResrankError, match="d1 has no text"):
        rerank(RankGPTReranker(HFChatBackend(model, tokenizer, 4)), [ranking])


@pytest.mark.slow
def test_smollm2_reranks_real_dl19_candidates() -> None:
    """The real offline SmolLM2-135M-Instruct, end to end through from_pretrained (one query, one window: the load dominates)."""
    data = read_candidates(DL19_CANDIDATES)
    given = to_rankings(data.topics, data.run, data.passages, top_k=4, qids=list(data.run)[:1])
    reranker = RankGPTReranker.from_pretrained("smollm2", device="cpu", window=4, stride=2, max_words=12)
    results = rerank(reranker, given)
    check_permutation(results, given)
    assert all(r.stats.generated_tokens > 0 for r in results)
    first = FirstReranker(reranker.backend.model, reranker.backend.tokenizer, window=4, stride=2, max_words=12)
    check_permutation(rerank(first, given), given)


QWEN3_LIKE_TEMPLATE = (  # the part of Qwen3's chat template that reads the switch
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def test_thinking_is_switched_through_the_chat_template(tokenizer: PreTrainedTokenizerBase) -> None:
    """``enable_thinking`` reaches a template that reads it (Qwen3's); ``default`` and other templates get nothing."""
    from resrank_eval.rerank.generative.hf import chat_texts

    chat = [[{"role": "user", "content": "hi"}]]
    plain = chat_texts(tokenizer, chat, "off")[0]  # SmolLM2's template has no switch: rendered as it is
    assert plain == tokenizer.apply_chat_template(chat[0], tokenize=False, add_generation_prompt=True)
    qwen = copy.copy(tokenizer)
    qwen.chat_template = QWEN3_LIKE_TEMPLATE
    assert chat_texts(qwen, chat, "off")[0].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert chat_texts(qwen, chat, "on")[0].endswith("<|im_start|>assistant\n")
    assert chat_texts(qwen, chat, "default")[0].endswith("<|im_start|>assistant\n")


def test_thinking_its_template_opened_and_the_budget_cut_off_names_nothing(tokenizer: PreTrainedTokenizerBase) -> None:
    """Qwen3-Thinking-2507's and DeepSeek-R1's templates open the answer with ``<think>``, so an answer cut off mid-thought has
    no tag: it is read after the template's ``<think>`` (and names nothing), not as a ranking made of the ids in the thoughts."""
    from resrank_eval.rerank.generative.permutation import ranking_part
    from resrank_eval.rerank.generative.prompt import rankgpt_messages

    model = tiny_model("qwen3", len(tokenizer))
    thinker = copy.copy(tokenizer)
    thinker.chat_template = QWEN3_LIKE_TEMPLATE.split("{% if enable_thinking")[0] + "<think>\n{% endif %}"
    chat = rankgpt_messages("what is <think>?", ["passage one", "passage two <think>"], ["1", "2"])
    (cut,) = HFChatBackend(model, thinker, max_new_tokens=6, min_new_tokens=6).generate([chat])
    assert cut.text.startswith("<think>\n") and ranking_part(cut.text) == ""
    (plain,) = HFChatBackend(model, tokenizer, max_new_tokens=6, min_new_tokens=6).generate([chat])  # a <think> in the passages opens nothing
    assert not plain.text.startswith("<think>") and ranking_part(plain.text) == plain.text != ""


@pytest.mark.parametrize("protocol", ["rankgpt", "rank_llm"])
def test_both_protocols_run_locally_and_leave_a_trace(protocol: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """RankGPT- and FIRST-style, each protocol, on a tiny model: one trace line per window, holding the prompt sent."""
    model = tiny_model("qwen3", len(tokenizer))
    given = rankings(1, 7)
    for reranker in (RankGPTReranker(HFChatBackend(model, tokenizer, max_new_tokens=6), window=4, stride=2, max_words=5, protocol=protocol),
                     FirstReranker(model, tokenizer, window=4, stride=2, max_words=5, protocol=protocol)):
        (result,) = rerank(reranker, given)
        check_permutation([result], given)
        assert [t["window"] for t in result.trace] == [[3, 7], [1, 5], [0, 3]]
        record = result.stats.extra["protocol"]
        assert record["name"] == protocol and record["thinking"] == "off"
        assert "temperature" not in record  # a local model decodes greedily: no sampling setting is claimed
        for line in result.trace:
            assert sorted(line["permutation"]) == list(range(1, len(line["docids"]) + 1))
            turns = " ".join(m["content"] for m in line["messages"])
            rank_llm_bytes = "alphabetical identifier []. Rank" if reranker.name == "first" else "number identifier [].\nRank"
            assert (rank_llm_bytes in turns) == (protocol == "rank_llm") != ("number identifier []. \nRank" in turns)
        if reranker.name == "first":
            assert all(t["answer"].startswith("[") and t["completion_tokens"] == 1 for t in result.trace)


def test_first_reads_the_identifier_token_that_follows_the_bracket() -> None:
    """A sentencepiece-style tokenizer (Mistral's, which FIRST's and RankZephyr's models use) encodes ``A`` alone as ``▁A``
    but ``[A`` as ``[``, ``A``: FIRST must read the logit of that ``A``, the token the prompt's ``[`` is followed by."""
    tokenizer = train_bpe_tokenizer(SAMPLE_TEXT * 20 + ("passage A passage B passage C passage D",) * 20, metaspace=True)
    tokenizer.chat_template = QWEN3_LIKE_TEMPLATE
    first = FirstReranker(tiny_model("llama", len(tokenizer)), tokenizer, window=4, stride=2)
    _, text = first.prompt("what causes fever", ["fever in children", "vitamin D", "the cell", "Paris"])
    assert tokenizer.encode("A", add_special_tokens=False) == tokenizer.convert_tokens_to_ids(["▁A"])  # the look-alike
    assert first.label_ids == [tokenizer(text + "[" + letter, add_special_tokens=False)["input_ids"][-1] for letter in "ABCD"]


def test_first_refuses_a_window_letters_cannot_label_before_loading() -> None:
    """FIRST's window of 27 was refused only by the reranker's constructor, after the model had loaded (66 s for SmolLM2)."""
    from resrank_eval.rerank.registry import reranker_factory

    with pytest.raises(ResrankError, match=r"^window: letter identifiers allow windows of at most 26 passages, got 27$"):
        reranker_factory("first", model="smollm2", window=27, stride=10)
    reranker_factory("first", model="smollm2", window=26, stride=10)  # checks only: nothing loads
