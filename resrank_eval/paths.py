"""Where the project's bundled files live; each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def qrels_dir() -> Path:
    """Topics and qrels of the ten benchmarks (``qrels/`` at the repository top)."""
    return Path(os.environ.get("RESRANK_QRELS_DIR", PROJECT_DIR / "qrels"))


def data_dir() -> Path:
    """Bundled real data: the NFCorpus BEIR directory and the DL19 BM25 candidates."""
    return PACKAGE_DIR / "data"


def cache_dir() -> Path:
    """Indexes, embeddings and trained models built on first use (``~/.cache/resrank-eval``)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "resrank-eval"
    return Path(os.environ.get("RESRANK_CACHE", default))


def runs_dir() -> Path:
    """Default folder for run files, like Pyserini's ``runs/``."""
    return Path(os.environ.get("RESRANK_RUNS", "runs"))
