"""The ResRank configuration: every choice the paper leaves open is a named option here.

Saved as ``resrank.json`` next to the weights, so a checkpoint says how it must be run. Defaults are
those of ``docs/resrank.md`` (PE-Rank injection, E2Rank prompt layout and score scale). Types,
choices and ranges are checked by the package's one schema checker (:mod:`..formats.schema`),
whether the values come from Python, ``resrank.json`` or a training YAML; ``__post_init__`` adds only what
no field can say alone (the templates).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResrankError
from ..formats.jsonl import read_json
from ..formats.schema import build, check

CONFIG_NAME = "resrank.json"
PARTS = ("encoder", "projector", "reranker")
"""A ResRank model's parts by name (training stages, LoRA, packing): the Encoder-LLM, the head that injects its vectors
(projector, residual gate, rank and score embeddings) and the Reranker-LLM."""
TRANSFORMERS = tuple(part for part in PARTS if part != "projector")
"""The parts that are Hugging Face transformers, whose parameters are named after them; every other parameter is the head."""

DEFAULT_PROMPT = (
    "Rank the passages below by their relevance to the search query.\n{passages}\nSearch query: {query}"
)


@dataclass
class ResRankConfig:
    """How a ResRank model is built and run.

    ``encoder`` / ``reranker`` are a Hugging Face id, a local model folder, or a ``.gguf`` file.
    ``score_scale`` multiplies the cosine (it is 1/temperature; E2Rank trains with 10).
    ``query_token``: when set, this token is appended to the prompt and its hidden state is q;
    otherwise q is the hidden state of the last prompt token.
    ``query_residual`` applies the residual on the query side too: q = h_last + e_q, with e_q the
    (projected) encoder vector of the query. The score then starts from the encoder's own cosine and
    the reranker learns a listwise correction (our extension; the paper's q is h_last alone).
    ``reranker_layers`` keeps only the first N decoder layers of the reranker (a cheaper mini model;
    the saved reranker folder then holds the truncated model, loadable by transformers alone).
    Candidates beyond ``max_candidates_per_pass`` are split into consecutive chunks, each one more
    pass in the same batch; cosine scores are absolute, so chunks merge by value.
    ``rank_embeddings`` (our extension) adds a learned vector per position in the pass (the
    first-stage rank: candidates arrive in first-stage order) to each passage's injected input
    embedding, not to its residual; zero at initialisation. The reader then sees the first stage's
    order, as rank fusion does, without spending label tokens (``[{index}]``) on it.
    ``first_stage_scores`` (our extension) also adds a learned vector times each candidate's
    first-stage score, min-max normalised over the query's candidates (0 = lowest, 1 = highest, as
    score interpolation normalises them); zero at initialisation. Ranks say what RRF knows, scores
    what interpolation knows (how far apart the candidates are). Scoring then needs those scores.
    ``score_fusion`` (our extension) adds the same normalised first-stage score to the output:
    s_i = score_scale * (cos(q, r_i) + w * level_i), w learned from 0 -- score interpolation as one
    exact term, so the reader learns only what fusion cannot do.
    """

    encoder: str
    reranker: str
    pooling: str = field(default="last", metadata={"choices": ("last", "mean", "cls")})
    normalize: bool = True
    query_instruction: str = ""
    projector: str = field(default="none", metadata={"choices": ("none", "linear", "mlp")})
    residual: str = field(default="add", metadata={"choices": ("add", "none", "gated")})
    gate_init: float = 1.0
    query_token: str | None = None
    score_scale: float = field(default=10.0, metadata={"min": 1e-6})
    max_passage_tokens: int = field(default=512, metadata={"min": 1})
    max_candidates_per_pass: int = field(default=100, metadata={"min": 1})
    placeholder_token: str = "<|passage|>"
    prompt_template: str = DEFAULT_PROMPT
    passage_template: str = "[{index}] {placeholder}"
    passage_separator: str = "\n"
    chat_template: bool = True
    reranker_layers: int | None = field(default=None, metadata={"min": 1})
    query_residual: bool = False
    rank_embeddings: bool = False
    first_stage_scores: bool = False
    score_fusion: bool = False

    def __post_init__(self) -> None:
        check(self, "model config")
        for name in ("encoder", "reranker", "placeholder_token"):
            if not getattr(self, name).strip():
                raise ResrankError(f"model config: {name} must be a non-empty string")
        if self.query_token is not None and not self.query_token:
            raise ResrankError("model config: query_token must be a token string or null")
        passages_at = self.prompt_template.find("{passages}")
        query_at = self.prompt_template.find("{query}")
        if passages_at < 0 or query_at < 0:
            raise ResrankError("model config: prompt_template needs both {passages} and {query}")
        if query_at < passages_at:
            raise ResrankError("model config: prompt_template must put {query} after {passages} (query last)")
        if "{placeholder}" not in self.passage_template:
            raise ResrankError("model config: passage_template needs {placeholder}")
        if self.placeholder_token in self.prompt_template:
            raise ResrankError("model config: prompt_template must not contain the placeholder token itself")
        try:
            self.passage_template.format(index=1, placeholder="")
            self.prompt_template.format(passages="", query="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ResrankError(f"model config: bad template field: {exc}") from None

    @property
    def reads_first_stage(self) -> bool:
        """Whether scoring needs each candidate's first-stage score."""
        return self.first_stage_scores or self.score_fusion

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> ResRankConfig:
        """From parsed JSON/YAML; unknown keys and missing ``encoder``/``reranker`` are errors (at ``path``)."""
        return build(cls, data, path, "")

    def save(self, directory: str | Path) -> None:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> ResRankConfig:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            inside = [p.name for p in sorted(Path(directory).iterdir()) if (p / CONFIG_NAME).is_file()] if path.parent.is_dir() else []
            hint = f"; the model folders in it: {', '.join(inside)}" if inside else ""  # a training run's output: best/, final/
            raise ResrankError(f"{path.resolve()}: no ResRank config (not a ResRank model folder{hint})")
        return cls.from_dict(read_json(path), path)
