"""The ResRank model: encoder vectors injected as one token each into a decoder, scored in ONE pass.

For a query and N passage vectors v_i: e_i = inject(v_i) replaces the input embedding of passage i's
placeholder token (plus a learned rank vector with ``rank_embeddings``, and a learned vector times the
candidate's normalised first-stage score with ``first_stage_scores``); one forward pass (no generation)
gives hidden states H (after the final norm);
q = H[last prompt token], r_i = H[slot_i] + e_i (residual mode), s_i = score_scale * cos(q, r_i)
(+ w * that normalised score inside the bracket with ``score_fusion``).

Everything is differentiable: a trainer calls :meth:`encode_passages` under grad and feeds the
result to :meth:`score`, so a ranking loss reaches the encoder (the paper's stage 2).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ResrankError
from ..numeric import minmax
from ..paths import cache_dir
from .config import CONFIG_NAME, TRANSFORMERS, ResRankConfig
from .encoder import Encoder
from .loading import build_encoder, keep_layers, load_model, load_tokenizer
from .packing import DELTA_FILE, HEAD_FILE, apply_delta, model_parts
from .presets import PRESETS, mini_config, paper_config
from .prompt import PromptBuilder, reserve_tokens
from .sources import resolve_source

ENCODER_DIR = "encoder"
RERANKER_DIR = "reranker"
LLMS = tuple(f"{part}." for part in TRANSFORMERS)
"""Parameter-name prefixes of the two LLMs; every other parameter is the head."""


@dataclass
class ScoreOutput:
    """Scores [B, N_max] (``-inf`` where a query has fewer passages) and each query's cost.

    ``pass_tokens``: per query, the length of each of its reranker passes (what its FLOPs depend on).
    """

    scores: torch.Tensor
    input_tokens: list[int]
    passes: list[int]
    pass_tokens: list[list[int]]


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
    """Encoder-LLM + Reranker-LLM + injector (+ gate). Build with :meth:`from_pretrained`."""

    def __init__(self, config: ResRankConfig, encoder: Encoder, reranker: Any, tokenizer: Any) -> None:
        super().__init__()
        config.check_hidden_sizes(encoder.dim, int(reranker.config.hidden_size))
        self.config = config
        self.encoder = encoder
        self.reranker = reranker
        self.tokenizer = tokenizer
        self.prompts = PromptBuilder(config, tokenizer)
        token_norm = reranker.get_input_embeddings().weight.detach().float().norm(dim=-1).mean().item()
        self.injector = Injector(config.projector, encoder.dim, int(reranker.config.hidden_size), token_norm)
        self.injector.to(device=self.device, dtype=self.dtype)
        self.gate = nn.Parameter(torch.tensor(float(config.gate_init), device=self.device, dtype=self.dtype)) \
            if config.residual == "gated" else None
        self.rank_embedding = nn.Parameter(torch.zeros(config.max_candidates_per_pass, int(reranker.config.hidden_size),
                                                       device=self.device, dtype=self.dtype)) \
            if config.rank_embeddings else None
        self.score_embedding = nn.Parameter(torch.zeros(int(reranker.config.hidden_size), device=self.device,
                                                        dtype=self.dtype)) if config.first_stage_scores else None
        self.fusion_weight = nn.Parameter(torch.zeros((), device=self.device, dtype=self.dtype)) if config.score_fusion else None

    @property
    def device(self) -> torch.device:
        return next(self.reranker.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.reranker.parameters()).dtype

    # ----- the three calls a trainer or a reranker makes -----

    def encode_passages(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encoder.encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encoder.encode(texts, queries=True)

    def score(self, queries: Sequence[str], passage_vectors: torch.Tensor | Sequence[torch.Tensor],
              first_stage: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """[B, N] scores; ``passage_vectors`` is [B, N, D] or B tensors [n_i, D] (padded with -inf);
        ``first_stage``: each query's first-stage scores [n_i], which a ``first_stage_scores`` or
        ``score_fusion`` model reads (``config.reads_first_stage``)."""
        return self.forward(queries, passage_vectors, first_stage).scores

    def forward(self, queries: Sequence[str], passage_vectors: torch.Tensor | Sequence[torch.Tensor],
                first_stage: Sequence[torch.Tensor] | None = None) -> ScoreOutput:
        """All queries (and all passes of each) in one batched forward through the reranker."""
        vectors = list(passage_vectors)
        if len(vectors) != len(queries):
            raise ResrankError(f"score: {len(queries)} queries but {len(vectors)} passage lists")
        rows = self._rows(queries, vectors)
        levels = self.row_levels(rows, vectors, first_stage)
        injected = self.injector(torch.cat([chunk for _, _, chunk in rows]).to(self.device, self.dtype))
        prompts = [self.prompts.build(queries[q], len(chunk)) for q, _, chunk in rows]
        row_index = torch.tensor([r for r, p in enumerate(prompts) for _ in p.slots], device=self.device)
        slot_index = torch.tensor([s for p in prompts for s in p.slots], device=self.device)
        positions = torch.tensor([i for _, _, chunk in rows for i in range(len(chunk))], device=self.device)
        flat_levels = torch.cat(levels).to(self.device, self.dtype) if levels is not None else None
        hidden, last = self._run(prompts, row_index, slot_index, self.slot_inputs(injected, positions, flat_levels))
        if self.config.query_residual:
            query_vectors = self.injector(self.encode_queries(queries).to(self.device, self.dtype))
            last = self._residual(last, query_vectors[torch.tensor([q for q, _, _ in rows], device=self.device)])
        slot_states = hidden[row_index, slot_index]
        cosine = F.cosine_similarity(last[row_index].float(), self._residual(slot_states, injected).float(), dim=-1)
        return self._collect(rows, prompts, self.fused(cosine, flat_levels) * self.config.score_scale, len(queries))

    def head_parameters(self) -> list[nn.Parameter]:
        """What is neither LLM (injector, gate, rank and score embeddings, fusion weight): trained as the projector part."""
        return [p for name, p in self.named_parameters() if not name.startswith(LLMS)]

    # ----- internals -----

    def _rows(self, queries: Sequence[str], vectors: list[torch.Tensor]) -> list[tuple[int, int, torch.Tensor]]:
        """(query index, first candidate, vectors) per pass: consecutive chunks of at most the max."""
        size = self.config.max_candidates_per_pass
        rows = []
        for q, block in enumerate(vectors):
            if block.dim() != 2 or block.shape[0] == 0 or block.shape[1] != self.encoder.dim:
                raise ResrankError(
                    f"score: query {q} needs passage vectors [n>0, {self.encoder.dim}], got {list(block.shape)}"
                )
            rows.extend((q, start, block[start:start + size]) for start in range(0, block.shape[0], size))
        return rows

    def _run(self, prompts: list[Any], rows: torch.Tensor, slots: torch.Tensor,
             injected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded batch; placeholders' embeddings replaced out of place (keeps autograd)."""
        lengths = [len(p.ids) for p in prompts]
        width = max(lengths)
        pad = self.encoder.pad_id if self.tokenizer.pad_token_id is None else self.tokenizer.pad_token_id
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, :len(prompt.ids)] = torch.tensor(prompt.ids)
            mask[row, :len(prompt.ids)] = 1
        ids = ids.to(self.device)
        embeds = self.reranker.get_input_embeddings()(ids)
        embeds = embeds.index_put((rows, slots), injected.to(embeds.dtype))  # autocast may hand bf16 vectors
        attention = None if min(lengths) == width else mask.to(self.device)
        hidden = self.reranker(inputs_embeds=embeds, attention_mask=attention, use_cache=False).last_hidden_state
        last = hidden[torch.arange(len(prompts), device=self.device), torch.tensor(lengths, device=self.device) - 1]
        return hidden, last

    def row_levels(self, rows: list[tuple[int, int, torch.Tensor]], vectors: list[torch.Tensor],
                   first_stage: Sequence[torch.Tensor] | None) -> list[torch.Tensor] | None:
        """Per row (pass), its candidates' first-stage scores min-max normalised over the whole query
        (None for a model that reads no scores). Both engines slice the same way."""
        if not self.config.reads_first_stage:
            return None
        if first_stage is None or len(first_stage) != len(vectors):
            raise ResrankError("score: this model reads first-stage scores (first_stage_scores, score_fusion); "
                               "give one score per candidate of every query")
        levels = []
        for q, block in enumerate(vectors):
            given = torch.as_tensor(first_stage[q], dtype=torch.float64).reshape(-1)
            if len(given) != len(block) or not torch.isfinite(given).all():
                raise ResrankError(f"score: query {q} needs {len(block)} finite first-stage scores, got {len(given)}")
            levels.append(torch.tensor(minmax(given.tolist()), dtype=torch.float64))  # as score interpolation does
        return [levels[q][start:start + len(chunk)] for q, start, chunk in rows]

    def slot_inputs(self, injected: torch.Tensor, positions: torch.Tensor,
                    levels: torch.Tensor | None = None) -> torch.Tensor:
        """The input embeddings of the placeholders: each injected vector, plus the rank embedding of
        its position in the pass (``rank_embeddings``) and its normalised first-stage score times the
        score embedding (``first_stage_scores``; ``levels`` shaped like ``injected`` without its last
        dimension). Every scoring path must place these, while the residual adds back ``injected`` alone."""
        inputs = injected if self.rank_embedding is None else injected + self.rank_embedding[positions]
        return inputs if self.score_embedding is None else inputs + levels.unsqueeze(-1) * self.score_embedding

    def fused(self, cosine: torch.Tensor, levels: torch.Tensor | None) -> torch.Tensor:
        """cos + w * level with ``score_fusion`` (``levels`` shaped like ``cosine``), else the cosine."""
        return cosine if self.fusion_weight is None else cosine + self.fusion_weight.float() * levels.float()

    def _residual(self, states: torch.Tensor, injected: torch.Tensor) -> torch.Tensor:
        if self.config.residual == "none":
            return states
        if self.config.residual == "gated":
            return states + self.gate * injected
        return states + injected

    def _collect(self, rows: list[tuple[int, int, torch.Tensor]], prompts: list[Any], flat: torch.Tensor,
                 count: int) -> ScoreOutput:
        widths = [0] * count
        lengths: list[list[int]] = [[] for _ in range(count)]
        for (q, start, chunk), prompt in zip(rows, prompts):
            widths[q] = max(widths[q], start + len(chunk))
            lengths[q].append(len(prompt.ids))
        scores = torch.full((count, max(widths)), float("-inf"), device=flat.device)
        query_index = torch.tensor([q for q, _, chunk in rows for _ in range(len(chunk))], device=flat.device)
        position = torch.tensor([start + i for _, start, chunk in rows for i in range(len(chunk))], device=flat.device)
        return ScoreOutput(scores.index_put((query_index, position), flat), list(map(sum, lengths)), list(map(len, lengths)), lengths)

    # ----- persistence -----

    def save_pretrained(self, directory: str | Path) -> None:
        """``resrank.json`` + ``head.safetensors`` + ``encoder/`` and ``reranker/`` HF folders."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name, model, tokenizer in ((ENCODER_DIR, self.encoder.model, self.encoder.tokenizer),
                                       (RERANKER_DIR, self.reranker, self.tokenizer)):
            model.save_pretrained(out / name)
            tokenizer.save_pretrained(out / name)
        head = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()
                if not k.startswith(LLMS)}
        save_file(head, str(out / HEAD_FILE))
        replace(self.config, encoder=ENCODER_DIR, reranker=RERANKER_DIR).save(out)

    @classmethod
    def from_config(cls, config: ResRankConfig, device: str | torch.device | None = None,
                    dtype: str | torch.dtype | None = None, encoder_batch_size: int = 32,
                    base_dir: str | Path | None = None) -> ResRankModel:
        """Load encoder and reranker from the config's sources; a fresh injector and gate."""
        encoder = build_encoder(config, device, dtype, encoder_batch_size, base_dir)
        source = resolve_source(config.reranker, base_dir)
        tokenizer = load_tokenizer(source)
        reranker = load_model(source, encoder.device, next(encoder.model.parameters()).dtype)
        if config.reranker_layers is not None:
            keep_layers(reranker, config.reranker_layers)
        if reserve_tokens(tokenizer, config) and len(tokenizer) > reranker.get_input_embeddings().num_embeddings:
            reranker.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        return cls(config, encoder, reranker, tokenizer)

    @classmethod
    def from_pretrained(cls, name_or_dir: str | Path, device: str | torch.device | None = None,
                        dtype: str | torch.dtype | None = None, encoder_batch_size: int = 32) -> ResRankModel:
        """A saved model folder, or a preset name (``mini``, ``paper``; see ``presets``)."""
        from safetensors.torch import load_file

        config, folder = resolve(name_or_dir)
        model = cls.from_config(config, device, dtype, encoder_batch_size, base_dir=folder)
        if folder is None:
            return model
        head_path = folder / HEAD_FILE
        if not head_path.is_file():
            raise ResrankError(f"{head_path}: missing (incomplete ResRank model folder)")
        head = load_file(str(head_path), device=str(model.device))
        missing, unexpected = model.load_state_dict(head, strict=False)
        missing = [k for k in missing if not k.startswith(LLMS)]
        if missing or unexpected:
            raise ResrankError(f"{head_path}: does not match the config (missing {missing}, unexpected {unexpected})")
        if (folder / DELTA_FILE).is_file():
            apply_delta(model_parts(model), folder / DELTA_FILE)
        return model


def load_encoder(name_or_dir: str | Path, device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None, batch_size: int = 32) -> Encoder:
    """Only the Encoder-LLM of a saved model or preset: what dense retrieval and indexing need."""
    config, folder = resolve(name_or_dir)
    encoder = build_encoder(config, device, dtype, batch_size, folder)
    if folder is not None and (folder / DELTA_FILE).is_file():
        apply_delta({"encoder": encoder.model}, folder / DELTA_FILE)
    return encoder


def resolve(name_or_dir: str | Path) -> tuple[ResRankConfig, Path | None]:
    """The config of a saved model folder or a preset, and the folder its relative sources live in.

    ``paper`` has no folder (hub ids); ``mini`` is assembled once into the cache (the GGUF
    de-quantises in ~30 s), so later loads read plain safetensors.
    """
    path = Path(name_or_dir)
    if path.is_dir():
        return ResRankConfig.load(path), path
    if str(name_or_dir) == "paper":
        return paper_config(), None
    if str(name_or_dir) == "mini":
        return ResRankConfig.load(_mini_folder()), _mini_folder()
    raise ResrankError(f"{name_or_dir}: not a ResRank model folder or preset ({', '.join(PRESETS)})")


def _mini_folder() -> Path:
    """The assembled mini preset, cached under a digest of its config and the resrank-eval version (never stale),
    built by one process at a time; a killed build is cleaned up by the next."""
    from ..formats.atomic import build_lock, temp_folder
    from ..provenance import Provenance

    folder = cache_dir() / "models" / f"mini-{Provenance.of('assemble', mini_config().to_dict()).digest()}"
    with build_lock(folder):
        if not (folder / CONFIG_NAME).is_file():
            building = temp_folder(folder)
            try:
                torch.manual_seed(0)
                ResRankModel.from_config(mini_config(), "cpu", "float32").save_pretrained(building)
                building.rename(folder)
            finally:
                shutil.rmtree(building, ignore_errors=True)
    return folder
