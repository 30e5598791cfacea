"""The ResRank model: encoder vectors injected as one token each into a decoder, scored in ONE pass.

For a query and N passage vectors v_i: e_i = inject(v_i) replaces the input embedding of passage i's
placeholder token (plus a learned rank vector with ``rank_embeddings``, and a learned vector times the
candidate's normalised first-stage score with ``first_stage_scores``); one forward pass (no generation)
gives hidden states H (after the final norm);
q = H[last prompt token], r_i = H[slot_i] + e_i (residual mode), s_i = score_scale * cos(q, r_i)
(+ w * that normalised score inside the bracket with ``score_fusion``).

One path computes the scores (:mod:`.scoring`), fast where it may: a trainer calls :meth:`encode`
under grad and feeds the result to :meth:`forward`, so a ranking loss reaches the encoder (the paper's stage 2);
without gradients the same path reuses the instruction prefix and, on CUDA, replays graphs. A user holding
a model calls :meth:`rank` on strings, as with sentence-transformers' ``CrossEncoder``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ArgumentError, InputError, ResrankError, check_count, first_line
from ..formats.ids import check_text, is_blank
from ..formats.jsonl import read_json
from ..formats.schema import build
from ..paths import cache_dir
from .card import Card
from .check import MANIFEST_FILE, check_folder, check_resrank_model, write_manifest
from .config import TRANSFORMERS, ResRankConfig
from .encoder import Encoder, is_causal, passage_vectors, stored_vectors
from .graphs import pad_token_id
from .loading import load_model, load_tokenizer, resolve_device, resolve_dtype
from .packing import DELTA_FILE, HEAD_FILE, apply_delta, model_parts, part_deltas
from .presets import PRESETS, preset_config
from .prompt import Prompts, reserve_tokens
from .scoring import ScoreOutput, Scoring
from .sources import resolve_source

log = logging.getLogger(__name__)

ENCODER_DIR = "encoder"
RERANKER_DIR = "reranker"
LLMS = tuple(f"{part}." for part in TRANSFORMERS)
"""Parameter-name prefixes of the two LLMs; every other parameter is the head."""


class Injector(nn.Module):
    """Maps encoder vectors into the reranker's embedding space.

    ``none``: a learned scalar, initialised to the mean norm of the reranker's token embeddings, so
    a unit-norm vector looks like a token; ``linear`` (initialised norm- and cosine-preserving);
    ``mlp`` (Linear-GELU-Linear, as PE-Rank).
    """

    def __init__(self, kind: str, encoder_dim: int, reranker_dim: int, token_norm: float) -> None:
        super().__init__()
        self.kind = kind
        if kind == "none":
            self.scale = nn.Parameter(torch.tensor(float(token_norm)))
        elif kind == "linear":
            # Semi-orthogonal, no bias: at initialisation the map keeps norms and cosines, so a fresh
            # model scores like its encoder and training starts from there.
            self.proj = nn.Linear(encoder_dim, reranker_dim)
            nn.init.orthogonal_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)
        else:
            self.proj = nn.Sequential(
                nn.Linear(encoder_dim, reranker_dim), nn.GELU(), nn.Linear(reranker_dim, reranker_dim)
            )

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors * self.scale if self.kind == "none" else self.proj(vectors)


class ResRankModel(nn.Module):
    """Encoder-LLM + Reranker-LLM + injector (+ gate). Build with :meth:`from_pretrained`.

    ``vectors``: stored passage vectors by docid (a dense index's ``DenseVectors``, or a dict), which
    :meth:`rank` reads documents from. ``scoring``: how the one path runs (:class:`.scoring.Scoring`).
    """

    def __init__(self, config: ResRankConfig, encoder: Encoder, reranker: Any, tokenizer: Any) -> None:
        super().__init__()
        width = int(reranker.config.hidden_size)
        if config.projector == "none" and encoder.dim != width:  # vectors are injected as they are
            raise ResrankError(f"model config: projector 'none' needs equal hidden sizes, encoder has {encoder.dim} and "
                               f"reranker {width}; use projector 'linear' or 'mlp'")
        if not is_causal(reranker):
            raise ResrankError(f"reranker {config.reranker!r}: not a causal decoder (the query-last prompt needs one)")
        self.config = config
        self.encoder = encoder
        self.reranker = reranker
        self.tokenizer = tokenizer
        self.prompts = Prompts(config, tokenizer)
        self.pad_id = pad_token_id(tokenizer)
        self.scoring = Scoring()
        self.vectors: Any = None
        self.card = Card()
        token_norm = reranker.get_input_embeddings().weight.detach().float().norm(dim=-1).mean().item()
        self.injector = Injector(config.projector, encoder.dim, width, token_norm).to(device=self.device, dtype=self.dtype)
        self.gate = self._head((), config.gate_init) if config.residual == "gated" else None
        self.rank_embedding = self._head((config.max_candidates_per_pass, width)) if config.rank_embeddings else None
        self.score_embedding = self._head((width,)) if config.first_stage_scores else None
        self.fusion_weight = self._head(()) if config.score_fusion else None

    def _head(self, shape: tuple[int, ...], value: float = 0.0) -> nn.Parameter:
        return nn.Parameter(torch.full(shape, float(value), device=self.device, dtype=self.dtype))

    @property
    def device(self) -> torch.device:
        return next(self.reranker.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.reranker.parameters()).dtype

    # ----- what users, trainers and rerankers call -----

    def rank(self, query: str, documents: Sequence[str], top_k: int | None = None, return_documents: bool = False,
             batch_size: int = 32, first_stage_scores: Sequence[float] | None = None) -> list[dict[str, Any]]:
        """The documents best first, as sentence-transformers' ``CrossEncoder.rank``: ``{"corpus_id", "score"}``
        per document (its index in ``documents``), plus ``"text"`` (the document as given) with ``return_documents``.

        ``documents``: passage texts, or, for a model loaded with ``vectors``, docids whose stored vectors are read
        (nothing encoded). ``batch_size``: passages per encoder forward; the reader scores them all in one pass.
        ``first_stage_scores``: one per document, read by a model with ``first_stage_scores`` or ``score_fusion``
        (``config.reads_first_stage``); without them such a model reads the given order as the first stage
        (scores -rank), as ``rerank`` reads a run without scores. Ties keep the given order. A model in train mode (a
        trainer's) is scored as in eval mode, without dropout, as ``rerank`` scores it; each module keeps its mode.
        """
        if self.training:
            modes = [(module, module.training) for module in self.modules()]
            self.eval()
            try:
                return self.rank(query, documents, top_k, return_documents, batch_size, first_stage_scores)
            finally:
                for module, mode in modes:
                    module.training = mode
        check_count(top_k, "top_k", 0, none_ok=True)
        check_count(batch_size, "batch_size", 1)
        _check_text_arg(query, "query")
        if is_blank(query):
            raise ResrankError("query: text is empty")
        _check_texts(documents, "documents")
        _check_scores(first_stage_scores, len(documents))
        stored = self.vectors is not None
        found = stored_vectors(self.vectors, documents)
        for i, document in enumerate(documents):
            if stored and document not in found:
                raise ResrankError(f"documents[{i}]: {document[:60]!r} is not in the stored vectors "
                                   "(a model loaded with vectors takes docids, not texts)")
            if is_blank(document):
                raise ResrankError(f"documents[{i}]: text is empty")
        if not documents:
            return []
        with torch.inference_mode():
            (vectors,), _ = passage_vectors(self.encoder, [[(d, None if stored else d) for d in documents]], found, batch_size)
            given = None
            if self.config.reads_first_stage:
                given = [torch.as_tensor(first_stage_scores if first_stage_scores is not None else range(0, -len(documents), -1),
                                         dtype=torch.float64)]
            scores = self([query], [vectors], given).scores[0].tolist()
        order = sorted(range(len(documents)), key=lambda i: -scores[i])[:top_k]
        return [{"corpus_id": i, "score": scores[i], **({"text": documents[i]} if return_documents else {})} for i in order]

    def encode(self, texts: Sequence[str], queries: bool = False, batch_size: int | None = None) -> torch.Tensor:
        """[len(texts), D] encoder vectors (queries with the encoder's instruction). Torch's grad mode decides, as for any
        module: a trainer's call is differentiable into the encoder; wrap inference in ``torch.inference_mode()`` (as
        :meth:`rank` does) for plain tensors without an autograd graph."""
        _check_texts(texts, "texts")
        check_count(batch_size, "batch_size", 1, none_ok=True)
        return self.encoder.encode(texts, queries, batch_size)

    def forward(self, queries: Sequence[str], passage_vectors: torch.Tensor | Sequence[torch.Tensor],
                first_stage: Sequence[torch.Tensor] | None = None) -> ScoreOutput:
        """Every query (and every pass of each) through the one scoring path: [B, N] scores (padded with -inf) and
        each query's cost. ``passage_vectors`` is [B, N, D] or B tensors [n_i, D]; ``first_stage``: each query's
        first-stage scores [n_i], which a ``first_stage_scores`` or ``score_fusion`` model reads (``config.reads_first_stage``)."""
        return self.scoring(self, queries, passage_vectors, first_stage)

    def train(self, mode: bool = True) -> ResRankModel:
        """Also makes the scoring path look at the weights afresh (training is about to change them, or has)."""
        super().train(mode)
        self.scoring.watch.forget()
        return self

    def head_state(self) -> dict[str, torch.Tensor]:
        """The state of what is neither LLM: what ``head.safetensors`` holds."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(LLMS)}

    def head_parameters(self) -> list[nn.Parameter]:
        """What is neither LLM (injector, gate, rank and score embeddings, fusion weight): trained as the projector part."""
        return [p for name, p in self.named_parameters() if not name.startswith(LLMS)]

    # ----- the maths every score shares (:func:`.scoring.scores` applies them) -----

    def slot_inputs(self, injected: torch.Tensor, positions: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
        """The input embeddings of the placeholders: each injected vector, plus the rank embedding of
        its position in the pass (``rank_embeddings``) and its normalised first-stage score times the
        score embedding (``first_stage_scores``; ``levels`` shaped like ``injected`` without its last
        dimension). The residual adds back ``injected`` alone."""
        inputs = injected if self.rank_embedding is None else injected + self.rank_embedding[positions]
        return inputs if self.score_embedding is None else inputs + levels.unsqueeze(-1) * self.score_embedding

    def fused(self, cosine: torch.Tensor, levels: torch.Tensor | None) -> torch.Tensor:
        """cos + w * level with ``score_fusion`` (``levels`` shaped like ``cosine``), else the cosine."""
        return cosine if self.fusion_weight is None else cosine + self.fusion_weight.float() * levels.float()

    def residual(self, states: torch.Tensor, injected: torch.Tensor) -> torch.Tensor:
        if self.config.residual == "none":
            return states
        return states + (self.gate * injected if self.config.residual == "gated" else injected)

    # ----- persistence -----

    def save_pretrained(self, directory: str | Path) -> None:
        """``resrank.json`` + ``head.safetensors`` + ``encoder/`` and ``reranker/`` HF folders, the card
        (``README.md``) and, last, the manifest of every file's digest; written whole (see :func:`_save_folder`)."""
        def write(out: Path) -> None:
            for name, model, tokenizer in ((ENCODER_DIR, self.encoder.model, self.encoder.tokenizer),
                                           (RERANKER_DIR, self.reranker, self.tokenizer)):
                model.save_pretrained(out / name)
                if hasattr(tokenizer, "backend_tokenizer"):  # a fast one saves its last call's truncation and padding otherwise
                    tokenizer.backend_tokenizer.no_truncation()
                    tokenizer.backend_tokenizer.no_padding()
                tokenizer.save_pretrained(out / name)
            self._save_head(out, replace(self.config, encoder=ENCODER_DIR, reranker=RERANKER_DIR))

        _save_folder(directory, write)

    def _save_head(self, out: Path, config: ResRankConfig) -> None:
        """What a saved and a packed folder share: the head, ``config``, the card and, last, the manifest."""
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in self.head_state().items()}, str(out / HEAD_FILE))
        config.save(out)
        self.card.lineage(self.config).write(out, config)
        write_manifest(out)

    def push_to_hub(self, repo_id: str, private: bool | None = None, token: str | None = None,
                    commit_message: str = "Upload ResRank model") -> str:
        """:meth:`save_pretrained` into a Hugging Face hub repository (created if needed); the commit's URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            self.card.lineage(self.config).write(folder, replace(self.config, encoder=ENCODER_DIR, reranker=RERANKER_DIR), repo_id)
            try:
                api.create_repo(repo_id, private=private, exist_ok=True)
                return str(api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message).commit_url)
            except Exception as exc:  # noqa: BLE001 - the hub's many errors (offline, auth, HTTP) as one line
                raise ResrankError(f"push to {repo_id}: {type(exc).__name__}: {first_line(exc)}") from None

    @classmethod
    def from_config(cls, config: ResRankConfig, device: str | torch.device | None = None,
                    dtype: str | torch.dtype | None = None, encoder_batch_size: int = 32,
                    base_dir: str | Path | None = None) -> ResRankModel:
        """Load encoder and reranker from the config's sources; a fresh injector and gate."""
        encoder = build_encoder(config, device, dtype, encoder_batch_size, base_dir)
        source = resolve_source(config.reranker, base_dir)
        tokenizer = load_tokenizer(source)
        reranker = load_model(source, encoder.device, next(encoder.model.parameters()).dtype)
        count = config.reranker_layers
        if count is not None and count > len(reranker.layers):
            raise ResrankError(f"model config: reranker_layers is {count}, but {source} has {len(reranker.layers)} layers")
        if count is not None and count < len(reranker.layers):  # a cheaper reader: its first layers only
            reranker.layers = reranker.layers[:count]
            reranker.config.num_hidden_layers = count
            if getattr(reranker.config, "layer_types", None):
                reranker.config.layer_types = reranker.config.layer_types[:count]
        known = reranker.get_input_embeddings().num_embeddings
        if reserve_tokens(tokenizer, config) and len(tokenizer) > known:
            reranker.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            with torch.no_grad():  # the same new rows at every load, not a random draw: a packed model stores changes to them
                rows = reranker.get_input_embeddings().weight
                rows[known:] = rows[:known].mean(0)
        return cls(config, encoder, reranker, tokenizer).eval()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, encoder_batch_size: int = 32, vectors: Any = None,
                        revision: str | None = None) -> ResRankModel:
        """A saved model folder, a Hugging Face hub repository (``owner/name``, at ``revision``, which a folder or preset
        refuses), or a preset name (``mini``, ``paper``; see ``presets``). A folder's files are checked against its
        manifest before use.

        ``vectors``: stored passage vectors :meth:`rank` may read (e.g. ``retrieve.dense.DenseVectors(index_dir)``,
        checked to come from this model's encoder). An index folder's path is refused before anything loads: reading
        one is the retrieve layer's, above this one.
        """
        from safetensors.torch import load_file

        if vectors is not None and not hasattr(vectors, "get"):  # a mapping, or a store such as DenseVectors
            raise ArgumentError(f"`vectors` must hold vectors by docid, got {vectors!r}; pass "
                                "resrank_eval.retrieve.dense.DenseVectors(index_dir) or a dict")
        config, folder = resolve(name_or_path, revision)
        model = cls.from_config(config, device, dtype, encoder_batch_size, base_dir=folder)
        if folder is not None:
            head = load_file(str(folder / HEAD_FILE), device=str(model.device))
            own = model.state_dict()
            missing = [k for k in own if k not in head and not k.startswith(LLMS)]
            unexpected = [k for k in head if k not in own]
            shapes = [f"{k} {list(head[k].shape)} for {list(own[k].shape)}" for k in head if k in own and head[k].shape != own[k].shape]
            if missing or unexpected or shapes:
                raise ResrankError(f"{folder / HEAD_FILE}: does not match the config (missing {missing}, unexpected {unexpected}"
                                   f"{', shapes ' + '; '.join(shapes) if shapes else ''})")
            model.load_state_dict(head, strict=False)
            if (folder / DELTA_FILE).is_file():
                apply_delta(model_parts(model), folder / DELTA_FILE)
                _check_pack(folder, model.encoder, model)
            model.card = Card.read(folder)
        if hasattr(vectors, "check_encoder"):
            vectors.check_encoder(model.encoder)
        model.vectors = vectors
        return model.eval()


def _check_text_arg(value: object, what: str) -> None:
    """A text a tokenizer reads (:func:`..formats.ids.check_text`), else a one-line error."""
    try:
        check_text(value, what)
    except ValueError as exc:
        raise ResrankError(str(exc)) from None


def _check_texts(values: object, what: str) -> None:
    """A list (or tuple) of texts a tokenizer reads, else a one-line error naming the first that is not."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ResrankError(f"{what} must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        _check_text_arg(value, f"{what}[{i}]")


def _check_scores(scores: object, documents: int) -> None:
    """None, or one finite real number per document (a list, tuple or numpy array), else a one-line error."""
    if scores is None:
        return
    if isinstance(scores, str) or not isinstance(scores, Sequence | np.ndarray):
        raise ResrankError(f"first_stage_scores must be a list of numbers, got {type(scores).__name__}")
    if len(scores) != documents:
        raise ResrankError(f"first_stage_scores: {len(scores)} for {documents} documents")
    for i, score in enumerate(scores):
        if isinstance(score, bool) or not isinstance(score, Real):
            raise ResrankError(f"first_stage_scores[{i}] must be a number, got {score!r}")
        try:
            finite = math.isfinite(score)
        except OverflowError:  # an int (or fraction) past the float range
            finite = False
        if not finite:
            raise ResrankError(f"first_stage_scores[{i}] must be finite, got {score!r}")


def build_encoder(config: ResRankConfig, device: str | torch.device | None = None,
                  dtype: str | torch.dtype | None = None, batch_size: int = 32,
                  base_dir: str | Path | None = None) -> Encoder:
    """The Encoder-LLM a config names (relative sources resolved inside ``base_dir``); ``batch_size`` is checked here, as
    every later ``encode`` reads it."""
    check_count(batch_size, "encoder batch size", 1)
    source = resolve_source(config.encoder, base_dir)
    target = resolve_device(device)
    return Encoder(load_model(source, target, resolve_dtype(dtype, target)), load_tokenizer(source),
                   config.pooling, config.normalize, config.max_passage_tokens, config.query_instruction, batch_size).eval()


def load_encoder(name_or_path: str | Path, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None, batch_size: int = 32) -> Encoder:
    """Only the Encoder-LLM of a saved model, hub repository or preset: what dense retrieval and indexing need."""
    config, folder = resolve(name_or_path)
    encoder = build_encoder(config, device, dtype, batch_size, folder)
    if folder is not None and (folder / DELTA_FILE).is_file():
        apply_delta({"encoder": encoder.model}, folder / DELTA_FILE)
        _check_pack(folder, encoder)
    return encoder


PACK_FILE = "pack.json"
PACK_TOLERANCE = 1e-2
"""Largest cosine difference a packed model may score against what it was packed from, or later against its ``pack.json``
(5x on 16-bit weights): far above the float16 changes' rounding (4e-5 with every weight changed by its own size) and
bf16's drift (1e-3), far below another tokenizer's (0.3)."""


@dataclass(frozen=True)
class Probe:
    """A packed model's scores of a few passages, kept in its ``pack.json``: a delta carries weights only, so the model
    built again on its base sources must score them as it did when packed, else a base changed (its weights, tokenizer,
    chat template or config). ``encoder``: the cosines of the query's and each passage's encoder vectors; ``model``: the
    model's scores over ``score_scale``."""

    query: str = "what causes fever in children"
    passages: list[str] = field(default_factory=lambda: ["Fever is a rise in body temperature.", "Paris is the capital of "
                                                          "France.", "Statins lower cholesterol and the risk of heart disease."])
    encoder: list[float] = field(default_factory=list)
    model: list[float] = field(default_factory=list)

    def of(self, encoder: Encoder, model: ResRankModel | None = None) -> Probe:
        """This probe's texts scored by ``encoder`` and ``model`` (from whole prompts: prefix reuse would add its own check
        and log line, and cache a prefix for the model's later calls)."""
        with torch.inference_mode():
            query, passages = encoder.encode([self.query], queries=True), encoder.encode(self.passages)
            cosines = torch.nn.functional.cosine_similarity(query.float(), passages.float()).tolist()
        scores: list[float] = []
        if model is not None:
            scoring, model.scoring = model.scoring, Scoring(prefix=False)
            try:
                ranked = sorted(model.rank(self.query, self.passages), key=lambda r: r["corpus_id"])
            finally:
                model.scoring = scoring
            scores = [r["score"] / model.config.score_scale for r in ranked]
        return replace(self, encoder=cosines, model=scores)

    def differs(self, other: Probe) -> float:
        """The largest difference between two probes' cosines (and scores, where both have them)."""
        pairs = [*zip(self.encoder, other.encoder), *(zip(self.model, other.model) if self.model and other.model else ())]
        return max(abs(a - b) for a, b in pairs)


def _check_pack(folder: Path, encoder: Encoder, model: ResRankModel | None = None) -> None:
    """A packed folder's model (or its encoder), built on its base sources, still scores the probe of its ``pack.json``."""
    path = folder / PACK_FILE
    if not path.is_file():
        log.warning("%s: packed without %s, so its base models cannot be checked (pack it again to pin them)", folder, PACK_FILE)
        return
    pinned = build(Probe, read_json(path), path, "")
    if len(pinned.encoder) != len(pinned.passages) or pinned.model and len(pinned.model) != len(pinned.passages):
        raise InputError(path, None, "not one encoder cosine (and model score) per probe passage")
    got = pinned.of(encoder, model)
    dtype = next(encoder.model.parameters()).dtype
    if pinned.differs(got) > PACK_TOLERANCE * (1 if dtype == torch.float32 else 5):
        which, want, now = ("model", pinned.model, got.model) if model is not None and pinned.model else ("encoder", pinned.encoder, got.encoder)
        raise InputError(path, None, f"built on its base sources, the {which} scores its probe {', '.join(f'{s:.3f}' for s in now)} "
                                     f"where it scored {', '.join(f'{s:.3f}' for s in want)} when packed: a base model (its weights, "
                                     "tokenizer, chat template or config) changed since; load it with the bases it was packed against")


def pack(trained_dir: str | Path, out_dir: str | Path, encoder_source: str, reranker_source: str, max_rank: int = 64) -> dict[str, int]:
    """``resrank-eval pack``: a copy of ``trained_dir`` stored as its changes against the two given base sources
    (:mod:`.packing`), with the trained model's head, card and manifest; how many weights of each kind."""
    from safetensors.torch import save_file

    target = Path(out_dir).resolve()
    if Path(trained_dir).resolve() in (target, *target.parents):  # replaced, or holding files its manifest does not list
        raise ResrankError(f"{out_dir}: is the model being packed or a folder inside it; write the packed model into another folder")
    trained = ResRankModel.from_pretrained(trained_dir, "cpu", "float32")
    config = replace(trained.config, encoder=encoder_source, reranker=reranker_source)
    torch.manual_seed(0)
    base = ResRankModel.from_config(config, "cpu", "float32")
    delta, counts = part_deltas(model_parts(trained), model_parts(base), max_rank, str(trained_dir))

    def write(out: Path) -> None:
        save_file(delta, str(out / DELTA_FILE))
        apply_delta(model_parts(base), out / DELTA_FILE)  # base is now what loading the packed folder builds
        base.load_state_dict(trained.head_state(), strict=False)
        want, got = Probe().of(trained.encoder, trained), Probe().of(base.encoder, base)
        if got.differs(want) > PACK_TOLERANCE:
            raise ResrankError(f"{trained_dir}: packed against {encoder_source} and {reranker_source}, it scores "
                               f"{', '.join(f'{s:.3f}' for s in got.model)} where it scored {', '.join(f'{s:.3f}' for s in want.model)} "
                               "(over the score scale; a tokenizer, chat template or model config differs from the trained "
                               "model's); pack against the models it was trained from")
        (out / PACK_FILE).write_text(json.dumps(asdict(got), indent=1) + "\n", encoding="utf-8")
        trained._save_head(out, config)

    _save_folder(out_dir, write)
    return counts


KEPT_IN_MOUNTS = ("lost+found",)
"""What a freshly formatted volume holds: no part of a model, left where it is."""


def _save_folder(directory: str | Path, write: Callable[[Path], None]) -> None:
    """A model folder written whole: ``write`` fills a hidden folder beside ``directory``, which is then renamed into
    place, so a save that fails half-way leaves ``directory`` as it was. ``directory`` may be absent, an empty folder or
    an earlier saved or packed model (it has a manifest), which is replaced, so none of its files stays beside the new
    model (a stale delta would be applied to the new weights); a folder of other files is refused. One save at a time
    (:func:`~resrank_eval.formats.atomic.build_lock`, which also removes what a killed save left beside the folder).
    A mount point (a container's volume) cannot be renamed: the hidden folder lies inside it and its files are moved in."""
    from ..formats.atomic import build_lock, remove_temp_folders, temp_folder

    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ResrankError(f"{out}: not a folder to save a model into")
    with build_lock(out):
        target = out.resolve()  # a link to a folder stays a link to the new one
        inside = os.path.ismount(target)
        if inside:
            remove_temp_folders(target / "model")  # what a killed save left inside the mount
        found = min((e for e in out.iterdir() if e.name not in KEPT_IN_MOUNTS), default=None) if out.is_dir() else None
        if found is not None and not (out / MANIFEST_FILE).is_file():
            raise ResrankError(f"{out}: holds {found.name} and is no saved model (no {MANIFEST_FILE}) to replace; save into a "
                               "new or empty folder")
        building = temp_folder(target / "model" if inside else target)
        try:
            write(building)
            if inside:
                _move_into(building, target)
            elif found is None:
                building.rename(target)  # replaces an empty folder
            else:
                old = temp_folder(target)
                target.rename(old)
                try:
                    building.rename(target)
                except BaseException:
                    old.rename(target)
                    raise
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(building, ignore_errors=True)


def _move_into(building: Path, target: Path) -> None:
    """Replace ``target``'s files by ``building``'s (a folder inside it), the old manifest first out and the new one last
    in, so a kill in between leaves a folder no manifest vouches for."""
    from ..formats.atomic import temp_folder

    old = temp_folder(target / "model")
    for entry in sorted(target.iterdir(), key=lambda e: e.name != MANIFEST_FILE):
        if entry not in (building, old) and entry.name not in KEPT_IN_MOUNTS:
            entry.rename(old / entry.name)
    for entry in sorted(building.iterdir(), key=lambda e: e.name == MANIFEST_FILE):
        entry.rename(target / entry.name)
    shutil.rmtree(old)


def resolve(name_or_path: str | Path, revision: str | None = None) -> tuple[ResRankConfig, Path | None]:
    """The config of a saved model folder, hub repository or preset, and the folder its relative sources live
    in, its files checked against its manifest.

    ``paper`` has no folder (hub ids); ``mini`` is assembled once into the cache (the GGUF
    de-quantises in ~30 s), so later loads read plain safetensors.
    """
    name = str(name_or_path)
    local = Path(name).is_dir()
    if revision is not None and (local or name in PRESETS):  # the hub's libraries ignore it there: a pin that pins nothing
        raise ArgumentError(f"`revision` selects a hub repository's commit; {name!r} is a {'local folder' if local else 'preset'}")
    if local:
        folder = Path(name)
    elif name == "paper":
        return preset_config("paper"), None
    elif name == "mini":
        folder = _mini_folder()
    else:
        check_resrank_model(name)  # a hub repository (owner/name), or the one error naming what a model argument may be
        folder = _download(name, revision)
    config = ResRankConfig.load(folder)
    check_folder(folder, digests=True)
    return config, folder


def _download(repo_id: str, revision: str | None) -> Path:
    """The hub repository's files in the Hugging Face cache (offline, ``HF_HUB_OFFLINE=1``: the cached copy)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as exc:  # noqa: BLE001 - the hub's many errors (offline, not found, HTTP) as one line
        raise ResrankError(f"{repo_id}: not a local folder or preset, and no copy from the Hugging Face hub "
                           f"({type(exc).__name__}: {first_line(exc)})") from None


def _mini_folder() -> Path:
    """The assembled mini preset, cached under a digest of its config and the resrank-eval version (never stale),
    built by one process at a time; a killed build is cleaned up by the next (one from before manifests is built again)."""
    from ..formats.atomic import build_lock
    from ..provenance import Provenance

    config = preset_config("mini")
    folder = cache_dir() / "models" / f"mini-{Provenance.of('assemble', config.to_dict()).digest()}"
    with build_lock(folder):
        if not (folder / MANIFEST_FILE).is_file():  # written last: without it, nothing of the folder can be trusted
            shutil.rmtree(folder, ignore_errors=True)
            torch.manual_seed(0)
            ResRankModel.from_config(config, "cpu", "float32").save_pretrained(folder)
    return folder
