"""Benchmarks: the registry of the ten evaluation sets, corpora and passage-text stores."""

from .dataset import Dataset
from .registry import DATASETS, get_dataset

__all__ = ["DATASETS", "Dataset", "get_dataset"]
