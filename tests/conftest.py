"""Shared test fixtures: where the real data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NFCORPUS = REPO / "resrank_eval" / "data" / "beir" / "nfcorpus"
DL19_CANDIDATES = REPO / "resrank_eval" / "data" / "candidates" / "dl19-bm25-top100.json.gz"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's caches and default run folder out of the user's home and the repo."""
    monkeypatch.setenv("RESRANK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
