"""Reproduction grids: a conditions file of datasets x conditions, run once, scored into the paper's table, checked against pins."""

from __future__ import annotations

from pathlib import Path

from ..paths import configs_dir
from .checks import load_grid
from .conditions import ConditionsFile, Grid
from .grid import Check, check, pin, plan, run_grid, score

BUNDLED = ("offline", "paper")
"""Conditions files that ship with the package (``resrank_eval/configs/conditions/<name>.yaml``)."""


def bundled_file(name_or_path: str | Path) -> Path:
    """A path as given, or a bundled conditions file by name (``offline``, ``paper``)."""
    if str(name_or_path) in BUNDLED and not Path(name_or_path).exists():
        return configs_dir() / "conditions" / f"{name_or_path}.yaml"
    return Path(name_or_path)


__all__ = ["BUNDLED", "Check", "ConditionsFile", "Grid", "bundled_file", "check", "load_grid", "pin", "plan", "run_grid", "score"]
