"""ResRank: an Encoder-LLM whose passage vectors are read, one token each, by a Reranker-LLM.

Import cost: torch and transformers load on first use of this package, never from the CLI's
top level.
"""

from .config import ResRankConfig
from .encoder import Encoder, QueryEncoder
from .resrank import ResRankModel, ScoreOutput, load_encoder

__all__ = ["Encoder", "QueryEncoder", "ResRankConfig", "ResRankModel", "ScoreOutput", "load_encoder"]
