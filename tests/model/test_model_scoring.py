"""The model's one scoring path against the plain reference computation on tiny random models (CPU, fp32).

Every config variant that changes the computation (residual modes, query residual, chat template,
passage labels, query token, several passes per query, rank embeddings, first-stage scores, fusion) x
every mechanism of the path that can run on a CPU (prefix KV reuse, length buckets, the static shapes
CUDA graphs use, one row per forward, torch.compile tracing; and under gradients, as a trainer runs it),
at batch 1 and batched, with fewer candidates than the slot bucket: equal scores (|diff| <= 1e-4),
identical rankings.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from resrank_eval.errors import ResrankError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model import Encoder, ResRankModel, Scoring
from resrank_eval.model.encoder import is_causal
from resrank_eval.model.graphs import GraphRunner, batch_bucket, length_bucket, relative_error, tolerance
from resrank_eval.model.loading import load_tokenizer
from resrank_eval.model.prompt import Prompts
from resrank_eval.rerank import rerank
from resrank_eval.rerank.pipeline import to_rankings
from resrank_eval.rerank.resrank import EncoderReranker, ResRankReranker
from resrank_eval.types import Candidate, Query, Ranking
from tests.helpers import DL19_CANDIDATES
from tests.reference import reference
from tests.tiny_models import tiny_config

CHAT = ("{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou rank passages.<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
QUERIES = ["what causes fever", "capital of France and its long history of kings", "x"]
COUNTS = (5, 9, 3)
VARIANTS = {  # config overrides: a new model option that changes the scores is one line here
    "add": {}, "none": {"residual": "none"}, "gated": {"residual": "gated"},
    "query-residual": {"residual": "gated", "query_residual": True}, "chat": {"chat": True},
    "no-labels": {"passage_template": "{placeholder}", "passage_separator": ""},
    "query-token": {"query_token": "<|query|>"}, "multi-pass": {"max_candidates_per_pass": 4},
    "rank-embeddings": {"rank_embeddings": True}, "rank-embeddings-multi-pass": {"rank_embeddings": True, "max_candidates_per_pass": 4},
    "first-stage-scores": {"first_stage_scores": True, "rank_embeddings": True},
    "first-stage-scores-multi-pass": {"first_stage_scores": True, "max_candidates_per_pass": 4},
    "score-fusion": {"score_fusion": True, "query_residual": True, "residual": "gated"},
    "score-fusion-multi-pass": {"score_fusion": True, "first_stage_scores": True, "max_candidates_per_pass": 4},
}
OPTIONS = {  # how the path runs without gradients (on a CPU: graphs=True gives the graph shapes, then runs uncaptured)
    "default": {}, "no-prefix": {"prefix": False}, "buckets": {"buckets": True},
    "graph-shapes": {"graphs": True, "max_rows": 4}, "one-row": {"max_rows": 1},
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-scoring")
    tiny_config(folder)
    shutil.copytree(folder / "qwen3", folder / "qwen3-chat")
    tokenizer = load_tokenizer(str(folder / "qwen3"))
    tokenizer.chat_template = CHAT
    tokenizer.save_pretrained(folder / "qwen3-chat")
    return folder


def build(root: Path, chat: bool = False, **options: object) -> ResRankModel:
    config = tiny_config(root, **options)
    if chat:
        config = replace(config, reranker=str(root / "qwen3-chat"))
    torch.manual_seed(0)
    model = ResRankModel.from_config(config, "cpu", "float32").eval()
    for name, param in model.named_parameters():  # the gate (and any other head parameter) off its constant start
        if not name.startswith(("encoder.", "reranker.", "injector.")):
            param.data.uniform_(0.25, 0.75)
    return model


def vectors(dim: int = 24) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.nn.functional.normalize(torch.randn(n, dim, generator=generator), dim=-1) for n in COUNTS]


def first_stage(shift: float = 0.0, stretch: float = 1.0) -> list[torch.Tensor]:
    """BM25-like scores per query, best first (what every variant is handed; only some read them)."""
    generator = torch.Generator().manual_seed(2)
    return [shift + stretch * torch.sort(torch.rand(n, generator=generator, dtype=torch.float64) * 20, descending=True).values
            for n in COUNTS]


def assert_same(fast: object, eager: object) -> None:
    finite = torch.isfinite(eager.scores)  # type: ignore[attr-defined]
    assert torch.equal(torch.isfinite(fast.scores), finite)  # type: ignore[attr-defined]
    assert (fast.scores[finite] - eager.scores[finite]).abs().max().item() <= 1e-4  # type: ignore[attr-defined]
    assert fast.pass_tokens == eager.pass_tokens  # type: ignore[attr-defined]
    for got, want in zip(fast.scores, eager.scores):  # type: ignore[attr-defined]
        keep = torch.isfinite(want)
        assert torch.equal(torch.argsort(got[keep], descending=True), torch.argsort(want[keep], descending=True))


# multi-pass alone stays in the fast set; its combinations (5-17 s each on 2 cores) are slow, still run by .ci/run
@pytest.mark.parametrize("variant", [pytest.param(v, marks=pytest.mark.slow) if v.endswith("-multi-pass") else v for v in VARIANTS])
def test_scores_equal_the_reference(root: Path, variant: str) -> None:
    model = build(root, **VARIANTS[variant])  # type: ignore[arg-type]
    lists, scores = vectors(), first_stage()
    with torch.no_grad():
        batched = reference(model, QUERIES, lists, scores)
        single = [reference(model, [q], [v], [s]) for q, v, s in zip(QUERIES, lists, scores)]
    for name, options in OPTIONS.items():
        model.scoring = Scoring(**options)  # type: ignore[arg-type]
        with torch.no_grad():
            assert_same(model(QUERIES, lists, scores), batched)
            for query, block, given, want in zip(QUERIES, lists, scores, single):
                assert_same(model([query], [block], [given]), want)
        assert (model.scoring.prefixes != {}) == (name != "no-prefix"), name
        assert all(p is not None for p in model.scoring.prefixes.values()), model.scoring.prefix_off
    model.scoring = Scoring()
    with torch.enable_grad():  # as a trainer runs it: no prefix cache, no padding to buckets, gradients
        assert_same(model(QUERIES, lists, scores), batched)
        model(QUERIES, [v.requires_grad_() for v in lists], scores).scores[torch.isfinite(batched.scores)].sum().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in lists)


def test_caches_follow_the_weights(root: Path) -> None:
    """The prefix cache belongs to the weights it was computed with: an in-place change (an optimizer step,
    a loaded state dict) drops it, so the scores follow the new weights; training mode uses none."""
    model = build(root, chat=True)
    with torch.no_grad():
        before = model(QUERIES, vectors()).scores
        assert len(model.scoring.prefixes) == 1
        model.reranker.layers[0].self_attn.k_proj.weight.mul_(1.5)  # what an optimizer step does, in place
        want = reference(model, QUERIES, vectors())
        assert_same(model(QUERIES, vectors()), want)
        assert not torch.allclose(before, want.scores)
        model.train()
        assert_same(model(QUERIES, vectors()), want)


@pytest.mark.parametrize("option", ["first_stage_scores", "score_fusion"])
def test_first_stage_scores_are_read_min_max_normalised_per_query(root: Path, option: str) -> None:
    """Scale and shift of the first stage do not matter (as for score interpolation); the scores
    themselves do, across every pass of a query; a model that reads them refuses to score without."""
    model = build(root, max_candidates_per_pass=4, **{option: True})  # type: ignore[arg-type]
    lists = vectors()
    with torch.no_grad():
        want = model(QUERIES, lists, first_stage()).scores
        moved = model(QUERIES, lists, first_stage(shift=-7.0, stretch=3.0)).scores
        reversed_ = model(QUERIES, lists, [s.flip(0) for s in first_stage()]).scores
    finite = torch.isfinite(want)
    assert torch.allclose(moved[finite], want[finite], atol=1e-5)
    assert not torch.allclose(reversed_[finite], want[finite], atol=1e-3)
    with pytest.raises(ResrankError, match="reads first-stage scores"):
        model(QUERIES, lists)
    with pytest.raises(ResrankError, match="query 1 needs 9 first-stage scores, got 2"):
        model(QUERIES, lists, [first_stage()[0], torch.zeros(2), first_stage()[2]])
    with pytest.raises(ResrankError, match=r"query 0: first-stage score 1 is nan \(scores must be finite\)"):
        model(QUERIES, lists, [first_stage()[0].index_fill(0, torch.tensor([1]), float("nan")), *first_stage()[1:]])


def test_score_fusion_adds_the_weighted_normalised_first_stage_score(root: Path) -> None:
    """s_i = scale * (cos_i + w * level_i): exactly interpolation's term on top of the reader's cosine."""
    model = build(root, score_fusion=True, max_candidates_per_pass=4)
    lists, given = vectors(), first_stage()
    with torch.no_grad():
        fused = model(QUERIES, lists, given).scores
        weight = model.fusion_weight.item()
        model.fusion_weight.zero_()
        plain = model(QUERIES, lists, given).scores
    levels = [(s - s.min()) / (s.max() - s.min()) for s in given]
    for row, level in enumerate(levels):
        n = len(level)
        expected = plain[row, :n] + model.config.score_scale * weight * level.float()
        assert torch.allclose(fused[row, :n], expected, atol=1e-5)


def test_prefix_reuse_with_eager_attention(root: Path) -> None:
    model = build(root, chat=True)
    model.reranker.set_attn_implementation("eager")
    with torch.no_grad():
        assert_same(model(QUERIES, vectors()), reference(model, QUERIES, vectors()))
    assert len(model.scoring.prefixes) == 1 and model.scoring.prefix_off is None


@pytest.mark.slow  # ~7 s on 2 cores: torch.compile traces the model
def test_torch_compile_traces_the_same_scores(root: Path) -> None:
    model = build(root, residual="gated", query_residual=True)
    model.scoring = Scoring(compile="aot_eager", buckets=True)
    with torch.no_grad():
        assert_same(model(QUERIES, vectors()), reference(model, QUERIES, vectors()))


def test_rank_reranker_and_reference_order_alike(root: Path) -> None:
    """``rank()`` on strings, the reranker on rankings and the reference on the same vectors: one order."""
    texts = ["Vitamin D in winter", "the powerhouse of the cell", "Paris is the capital of France",
             "statins lower cholesterol", "transformers read tokens", "fever in children"]
    rankings = [Ranking(Query(f"q{i}", q), [Candidate(f"d{j}", 0.0, t) for j, t in enumerate(texts[:n])])
                for i, (q, n) in enumerate(zip(QUERIES, (6, 4, 5)))]
    model = build(root, residual="gated", query_residual=True, max_candidates_per_pass=4)
    results = rerank(ResRankReranker(model), rankings, batch_size=2)
    for ranking, result in zip(rankings, results):
        texts_of = [c.text for c in ranking.candidates]
        with torch.no_grad():
            want = reference(model, [ranking.query.text], [model.encode(texts_of)]).scores[0].tolist()
        ranked = model.rank(ranking.query.text, texts_of, return_documents=True)
        assert [c.docid for c in result.candidates] == [f"d{r['corpus_id']}" for r in ranked]
        assert [r["score"] for r in ranked] == pytest.approx(sorted(want, reverse=True), abs=1e-4)
        assert [r["text"] for r in ranked] == [texts_of[r["corpus_id"]] for r in ranked]
    assert [r["corpus_id"] for r in model.rank(QUERIES[0], texts, top_k=2)] == [r["corpus_id"] for r in model.rank(QUERIES[0], texts)][:2]
    with torch.enable_grad():  # the encoder stays differentiable for a trainer
        assert model.encoder.encode(["fever"]).requires_grad


def test_reranking_queries_in_batches_scores_as_one_query_at_a_time(root: Path) -> None:
    """``rerank --batch-size``: a batch's passages are encoded together (padded to the longest) and its queries' passes
    scored in one forward, against one query per call (batches of 3, 3 and 2): the same scores (|diff| <= 1e-5) and the same
    order, for the ResRank reranker (several passes per query, the first stage read, the query residual) and the encoder alone."""
    data = read_candidates(DL19_CANDIDATES)
    rankings = to_rankings(data.topics, data.run, data.passages, 8, qids=list(data.run)[:8])
    model = build(root, score_fusion=True, rank_embeddings=True, query_residual=True, residual="gated", max_candidates_per_pass=4)
    for reranker in (ResRankReranker(model), EncoderReranker(model.encoder)):
        alone = rerank(reranker, rankings)
        for one, batched in zip(alone, rerank(reranker, rankings, 3), strict=True):
            assert [c.docid for c in batched.candidates] == [c.docid for c in one.candidates], reranker.name
            assert max(abs(a.score - b.score) for a, b in zip(batched.candidates, one.candidates)) <= 1e-5, reranker.name


def test_rank_reads_stored_vectors_and_the_given_order_as_first_stage(root: Path) -> None:
    model = build(root, score_fusion=True)
    texts = ["Vitamin D in winter", "the powerhouse of the cell", "Paris is the capital of France"]
    by_text = model.rank(QUERIES[0], texts)
    with torch.no_grad():
        stored = {f"d{i}": v for i, v in enumerate(model.encode(texts))}
    model.vectors = stored
    by_id = model.rank(QUERIES[0], list(stored))
    assert [r["corpus_id"] for r in by_id] == [r["corpus_id"] for r in by_text]
    assert [r["score"] for r in by_id] == pytest.approx([r["score"] for r in by_text], abs=1e-5)
    explicit = model.rank(QUERIES[0], list(stored), first_stage_scores=[0.0, -1.0, -2.0])  # -rank: the given order
    assert [r["score"] for r in explicit] == pytest.approx([r["score"] for r in by_id], abs=1e-6)
    with pytest.raises(ResrankError, match=r"^documents\[1\]: 'd9' is not in the stored vectors \(a model loaded with vectors takes docids"):
        model.rank(QUERIES[0], ["d0", "d9"])
    assert model.rank(QUERIES[0], []) == []


def test_rank_and_encode_refuse_bad_arguments_in_one_line(root: Path) -> None:
    model = build(root)
    for call, message in [
        (lambda: model.rank("q", ["a", "b", "c"], top_k=-1), "top_k must be an integer >= 0 or None, got -1"),
        (lambda: model.rank("q", ["a"], top_k=1.5), "top_k must be an integer >= 0 or None, got 1.5"),
        (lambda: model.rank("q", ["a"], batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (lambda: model.encode(["a"], batch_size=-1), "batch_size must be an integer >= 1 or None, got -1"),
        (lambda: model.rank(None, ["a"]), "query must be a string, got null"),
        (lambda: model.rank("q", ["a", 5]), r"documents\[1\] must be a string, got 5"),
        (lambda: model.rank("q", ["abc\ud800def"]), r"documents\[0\] is not valid Unicode \(a lone surrogate\)"),
        (lambda: model.rank("q", "abc"), "documents must be a list of strings, got str"),
        (lambda: model.encode("abc"), "texts must be a list of strings, got str"),
        (lambda: model.rank("q", ["a", ""]), r"documents\[1\]: text is empty"),
        (lambda: model.rank("q", ["a", "   "]), r"documents\[1\]: text is empty"),
        (lambda: model.rank("q", ["a", " \u200b\u200c\ufeff"]), r"documents\[1\]: text is empty"),  # zero-width: blank too
        (lambda: model.rank("q", ["a", "\x00\x01"]), r"documents\[1\]: text is empty"),  # control characters: blank too
        (lambda: ResRankModel.from_config(tiny_config(root), "cpu", "float32", encoder_batch_size=0),
         "encoder batch size must be an integer >= 1, got 0"),
        (lambda: model.rank("", ["a"]), "query: text is empty"),
        (lambda: model.rank(" \n", ["a"]), "query: text is empty"),
        (lambda: model.rank("\u200b\n\u2060", ["a"]), "query: text is empty"),
        (lambda: model.rank("q", ["a", "b"], first_stage_scores=[1.0]), "first_stage_scores: 1 for 2 documents"),
        (lambda: model.rank("q", [], first_stage_scores=[1.0]), "first_stage_scores: 1 for 0 documents"),
        (lambda: model.rank("q", ["a"], first_stage_scores=["1"]), r"first_stage_scores\[0\] must be a number, got '1'"),
        (lambda: model.rank("q", ["a"], first_stage_scores=iter([1.0])), "first_stage_scores must be a list of numbers, got list_iterator"),
        (lambda: model.rank("q", ["a", "b"], first_stage_scores=[1.0, float("inf")]), r"first_stage_scores\[1\] must be finite, got inf"),
        (lambda: model.rank("q", ["a", "b"], first_stage_scores=[1, 10**400]), r"first_stage_scores\[1\] must be finite, got 1000*"),
    ]:
        with pytest.raises(ResrankError, match=f"^{message}$"):
            call()
    assert model.rank(QUERIES[0], ["a", "b"], top_k=0) == []
    assert len(model.rank(QUERIES[0], ["a", "b"], top_k=5)) == 2
    assert model.encode([]).shape == (0, model.encoder.dim)
    fusing = build(root, score_fusion=True)  # numpy scores are numbers too
    assert fusing.rank(QUERIES[0], ["a", "b"], first_stage_scores=np.array([2.0, 1.0], dtype=np.float32)) \
        == fusing.rank(QUERIES[0], ["a", "b"], first_stage_scores=[2.0, 1.0])


def test_rank_in_train_mode_scores_as_in_eval_mode_and_leaves_train_mode_on(root: Path) -> None:
    """A trainer's model (dropout on) ranks as at inference, as ``rerank`` does, and each module keeps its mode."""
    model = build(root, score_fusion=True)
    texts = ["Vitamin D in winter", "the powerhouse of the cell", "Paris is the capital of France", "fever in children"]
    want = model.rank(QUERIES[0], texts)
    model.train()
    model.reranker.eval()  # a part the trainer keeps in eval mode stays so
    modes = [m.training for m in model.modules()]
    for _ in range(3):
        got = model.rank(QUERIES[0], texts)
        assert [r["corpus_id"] for r in got] == [r["corpus_id"] for r in want]
        assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], abs=1e-6)
    assert [m.training for m in model.modules()] == modes and model.training and model.encoder.training


def test_first_stage_scores_further_apart_than_the_largest_float_give_finite_scores(root: Path) -> None:
    """rank() accepts any finite first-stage scores; their levels (1, 0, 0.5 here) must not overflow into NaN."""
    model = build(root, score_fusion=True)
    texts = ["Vitamin D in winter", "the powerhouse of the cell", "Paris is the capital of France"]
    huge = model.rank(QUERIES[0], texts, first_stage_scores=[1e308, -1e308, 0.0])
    assert all(np.isfinite(r["score"]) for r in huge)
    assert huge == model.rank(QUERIES[0], texts, first_stage_scores=[1.0, -1.0, 0.0])


@pytest.mark.parametrize("variant", ["chat", "add", "query-token"])
def test_assembled_prompts_are_the_whole_prompts(root: Path, variant: str) -> None:
    model = build(root, **VARIANTS[variant])  # type: ignore[arg-type]
    queries = ["", "  spaced  ", "Ünïcödé <|im_end|> query", "<|passage|> injected", "what is x?"]
    for count in (1, 7, 100):
        for got, query in zip(model.prompts.build_many(queries, [count] * len(queries)), queries):
            want = model.prompts.build(query, count)
            assert got.ids == want.ids and got.slots == want.slots
        assert model.prompts.pieces[count] is not None


def test_assembly_falls_back_when_the_template_rewrites_the_query(root: Path) -> None:
    model = build(root, chat=True)
    model.tokenizer.chat_template = CHAT.replace("m['content']", "m['content'] | trim")
    prompts = Prompts(model.config, model.tokenizer)
    for query in ("  padded query  ", "plain"):
        assert prompts.build_many([query], [3])[0].ids == prompts.build(query, 3).ids
    assert prompts.pieces[3] is None


def test_buckets() -> None:
    assert [length_bucket(n) for n in (1, 8, 9, 127, 129, 1000)] == [8, 8, 16, 128, 144, 1024]
    assert all(n <= length_bucket(n) < n * 1.125 + 8 for n in range(1, 5000))
    assert [batch_bucket(n, 128) for n in (1, 2, 3, 33, 100, 128)] == [1, 2, 4, 64, 128, 128]
    assert batch_bucket(5, 6) == 6


def test_graph_runner_falls_back_on_a_cpu() -> None:
    runner = GraphRunner(tolerance=1e-4)
    x = torch.arange(4.0)
    assert torch.equal(runner.run("k", lambda t: t * 2, [x]), x * 2)
    assert runner.captured() == 0 and "CUDA" in runner.reasons["k"]
    assert relative_error(torch.tensor([1.0, 2.1]), torch.tensor([1.0, 2.0])) == pytest.approx(0.05)
    assert not relative_error(torch.tensor([float("nan")]), torch.ones(1)) <= tolerance(torch.bfloat16)


@pytest.mark.parametrize("kind", ["bert", "qwen3"])
def test_inference_encoding_equals_the_masked_forward(root: Path, kind: str) -> None:
    """Without gradients a causal encoder runs unmasked (and, with graphs, padded to buckets), in padded batches of 2:
    the vectors of each text encoded alone, unpadded, with the attention mask (as a trainer runs it)."""
    from transformers import AutoModel

    folder = root / kind
    model = AutoModel.from_pretrained(folder).eval()
    pooling = "mean" if kind == "bert" else "last"
    texts = ["a", "Vitamin D in winter and what it does", "Paris", "statins lower cholesterol in adults", "x y z"]
    for graphs in (False, True):
        encoder = Encoder(model, load_tokenizer(str(folder)), pooling, True, 64, batch_size=2).eval()
        encoder.use_graphs = graphs
        ids = encoder.tokenize(texts)
        with torch.enable_grad():
            want = torch.cat([encoder.embed([one]) for one in ids])
        with torch.no_grad():
            got = encoder.embed(ids)
        assert is_causal(model) == (kind == "qwen3") and encoder.unmasked == (kind == "qwen3")
        assert (got - want).abs().max().item() <= 1e-5
