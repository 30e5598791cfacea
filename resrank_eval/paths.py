"""Where the project's files live: the one owner of every location; the environment variables named below override.

Bundled files are found through ``importlib.resources``, so a wheel, an sdist build and an editable install all
agree; ``qrels/`` sits at the repository top and installs as the data package ``resrank_eval.qrels``.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path


def _package_dir(package: str) -> Path:
    """A package's folder on disk (pip installs unzipped, so the resource root is a real folder)."""
    return Path(str(files(package)))


def qrels_dir() -> Path:
    """Topics and qrels of the ten benchmarks (``RESRANK_QRELS_DIR``; default: the ``resrank_eval.qrels`` data)."""
    if "RESRANK_QRELS_DIR" in os.environ:
        return Path(os.environ["RESRANK_QRELS_DIR"])
    try:
        return _package_dir("resrank_eval.qrels")
    except ModuleNotFoundError:  # a checkout put on sys.path by hand, not installed: no package-dir mapping
        return _package_dir("resrank_eval").parent / "qrels"


def data_dir() -> Path:
    """Bundled real data: NFCorpus, the DL19 BM25 candidates, the ResRank-mini model (``RESRANK_DATA_DIR``)."""
    return Path(os.environ.get("RESRANK_DATA_DIR", _package_dir("resrank_eval") / "data"))


def configs_dir() -> Path:
    """Bundled configurations: the training recipe and the pinned regressions."""
    return _package_dir("resrank_eval") / "configs"


def cache_dir() -> Path:
    """Indexes, embeddings, assembled models and fetched weights, built on first use (``RESRANK_CACHE``).

    Default ``~/.cache/resrank-eval``, or under ``XDG_CACHE_HOME``.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "resrank-eval"
    return Path(os.environ.get("RESRANK_CACHE", default))


def runs_dir() -> Path:
    """Default folder for run files, like Pyserini's ``runs/`` (``RESRANK_RUNS``)."""
    return Path(os.environ.get("RESRANK_RUNS", "runs"))
