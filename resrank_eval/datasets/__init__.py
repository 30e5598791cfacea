"""Benchmarks: the registry of the ten evaluation sets, corpora and passage-text stores."""

from .registry import DATASETS, Dataset, get_dataset

__all__ = ["DATASETS", "Dataset", "get_dataset"]
