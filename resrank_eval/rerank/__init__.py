"""Rerankers (one class each) and the driver that runs any of them over a first-stage run."""

from .base import Reranked, Reranker

__all__ = ["Reranked", "Reranker"]
