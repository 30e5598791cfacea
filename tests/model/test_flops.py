"""FLOPs per query: the shape of a tiny model by hand, and every reranker's count against torch's own FLOP counter.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix multiplies as they execute; with eager
attention (so Q K^T and A V are visible matmuls), one query at batch size 1 (so there is no padding)
must cost exactly what the reranker recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModelForCausalLM, BertConfig, BertModel, LlamaConfig

from resrank_eval.model import ResRankModel, Scoring
from resrank_eval.model.flops import PETA, Shape, flops_summary
from resrank_eval.model.loading import load_tokenizer
from resrank_eval.model.sources import resolve_source
from resrank_eval.rerank import rerank
from resrank_eval.rerank.generative import FirstReranker, RankGPTReranker
from resrank_eval.rerank.generative.hf import HFChatBackend
from resrank_eval.rerank.resrank import EncoderReranker, ResRankReranker
from resrank_eval.types import Candidate, Query, Ranking
from tests.tiny_models import tiny_config

LLAMA = dict(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=4)


def counted(run: object) -> int:
    with FlopCounterMode(display=False) as counter:
        run()  # type: ignore[operator]
    return counter.get_total_flops()


def test_llama_shape_and_counts_by_hand() -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**LLAMA, attn_implementation="eager")).eval()
    # per layer: q 16x16 + k 16x8 + v 16x8 + o 16x16 + gate, up 16x32 + down 32x16 = 2304 multiply-adds per token
    assert Shape.of(model) == Shape(layers=2, linear=2 * 2304, attention=4 * 4, per_sequence=0, head=16 * 100)
    shape = Shape.of(model)
    # 6 prompt tokens: linear 2*4608*6 = 55296; attention 4*2 layers*16*6*6 = 4608; one logit row 2*1600 = 3200
    assert shape.forward(6, logits=1) == 63_104
    # 3 generated tokens: the prefill makes the first, two decode steps over 6+1 and 6+2 keys make the others
    assert shape.generation(6, 3) == (63_104, (9216 + 896 + 3200) + (9216 + 1024 + 3200))
    ids = torch.randint(5, 100, (1, 6))
    with torch.inference_mode():
        assert counted(lambda: model(input_ids=ids, logits_to_keep=1)) == 63_104
        generate = lambda: model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=3,  # noqa: E731
                                          min_new_tokens=3, do_sample=False, pad_token_id=0)
        assert counted(generate) == sum(shape.generation(6, 3)) == 89_856


def test_bert_shape_counts_its_pooler_once_per_sequence() -> None:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                        attn_implementation="eager")
    model = BertModel(config).eval()
    assert Shape.of(model) == Shape(layers=2, linear=2 * (4 * 24 * 24 + 2 * 24 * 48), attention=24, per_sequence=24 * 24, head=0)
    # 7 tokens: linear 2*9216*7 = 129024; attention 4*2*24*7*7 = 9408; pooler 2*576 = 1152
    assert Shape.of(model).forward(7) == 139_584
    with torch.inference_mode():
        assert counted(lambda: model(input_ids=torch.randint(5, 100, (1, 7)))) == 139_584


def test_queries_per_petaflop() -> None:
    summary = flops_summary([{"encoder": 1e12, "prefill": 3e12, "decode": 0}, {"encoder": 3e12, "prefill": 1e12, "decode": 0}])
    assert summary["flops_per_query"] == 4e12 and summary["queries_per_pflop"] == PETA / 4e12 == 250
    assert flops_summary([{"encoder": 1.0}, {}])["queries_per_pflop"] is None  # one query without a count: unknown


def eager(*models: torch.nn.Module) -> None:
    for model in models:
        model.set_attn_implementation("eager")


QUERY = Ranking(Query("q1", "capital of France"), [
    Candidate("d0", 3.0, "Paris is the capital of France"), Candidate("d1", 2.0, "statins lower cholesterol"),
    Candidate("d2", 1.0, "Berlin is the capital of Germany and a large city"),
])


@pytest.fixture(scope="module")
def resrank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-flops")
    torch.manual_seed(0)
    ResRankModel.from_config(tiny_config(root, query_residual=True), "cpu", "float32").save_pretrained(root / "model")
    return root / "model"


@pytest.mark.parametrize("cls", [ResRankReranker, EncoderReranker])
def test_resrank_and_encoder_record_what_torch_counts(cls: type, resrank_dir: Path) -> None:
    # prefix reuse off: with it the model computes the same scores (so records the same FLOPs) but runs a cached
    # prompt prefix once and checks that reuse once, so torch's count of what it ran differs on purpose
    reranker = cls.from_pretrained(str(resrank_dir), device="cpu")
    if cls is ResRankReranker:
        reranker.model.scoring = Scoring(prefix=False)
    reranker.encoder.batch_size = 1  # one passage per encoder forward: no padding
    eager(reranker.encoder.model, *([reranker.model.reranker] if cls is ResRankReranker else []))
    results: list = []
    measured = counted(lambda: results.extend(rerank(reranker, [QUERY])))
    flops = results[0].stats.flops
    assert flops["decode"] == 0 and flops["encoder"] > 0
    assert (flops["prefill"] > 0) == (cls is ResRankReranker)
    assert sum(flops.values()) == measured


@pytest.fixture(scope="module")
def smollm2_tokenizer() -> object:
    return load_tokenizer(resolve_source("smollm2"))


def test_rankgpt_and_first_record_what_torch_counts(smollm2_tokenizer: object) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**{**LLAMA, "vocab_size": len(smollm2_tokenizer)},  # type: ignore[arg-type]
                                                         attn_implementation="eager")).eval()
    ranking = Ranking(QUERY.query, [Candidate(f"d{i}", 9.0 - i, f"passage {i} about fleas") for i in range(5)])
    for reranker in (RankGPTReranker(HFChatBackend(model, smollm2_tokenizer, max_new_tokens=5), window=3, stride=2, max_words=5),
                     FirstReranker(model, smollm2_tokenizer, window=3, stride=2, max_words=5)):
        results: list = []
        measured = counted(lambda r=reranker, out=results: out.extend(rerank(r, [ranking])))
        stats = results[0].stats
        assert sum(stats.flops.values()) == measured, reranker.name
        assert (stats.flops["decode"] > 0) == (reranker.name == "rankgpt") and stats.flops["encoder"] == 0


def test_prefix_reuse_records_the_flops_of_the_model_it_computes(resrank_dir: Path) -> None:
    """FLOPs describe the model's maths, not the path's mechanics: with and without prefix reuse, the same counts."""
    stats = []
    for prefix in (False, True):
        reranker = ResRankReranker.from_pretrained(str(resrank_dir), device="cpu")
        reranker.model.scoring = Scoring(prefix=prefix)
        stats.append(rerank(reranker, [QUERY])[0].stats)
    assert stats[0].flops == stats[1].flops and stats[0].flops["prefill"] > 0
