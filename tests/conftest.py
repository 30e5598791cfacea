"""Fixtures for every test: caches kept out of the user's home. Shared constants and helpers are in helpers.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's caches and default run folder out of the user's home and the repo."""
    monkeypatch.setenv("RESRANK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
