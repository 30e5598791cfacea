"""Generative listwise baselines: RankGPT-style permutation generation and FIRST-style single-token ranking."""

from .first import FirstReranker
from .rankgpt import RankGPTReranker

__all__ = ["FirstReranker", "RankGPTReranker"]
