"""ResRank: an Encoder-LLM whose passage vectors are read, one token each, by a Reranker-LLM.

Import cost: torch and transformers load on first use of a model class (``ResRankModel``,
``Encoder``, ``load_encoder``), so the torch-free parts (``config``, ``presets``, ``sources``) and
the CLI's top level stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .config import ResRankConfig

if TYPE_CHECKING:
    from .card import Card
    from .encoder import Encoder, QueryEncoder
    from .resrank import ResRankModel, load_encoder
    from .scoring import ScoreOutput, Scoring

__getattr__ = lazy_exports(__name__, {"Card": ".card", "Encoder": ".encoder", "QueryEncoder": ".encoder", "ResRankModel": ".resrank",
                                       "ScoreOutput": ".scoring", "Scoring": ".scoring", "load_encoder": ".resrank"})

__all__ = ["Card", "Encoder", "QueryEncoder", "ResRankConfig", "ResRankModel", "ScoreOutput", "Scoring", "load_encoder"]
