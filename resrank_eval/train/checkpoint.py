"""Training checkpoints that resume exactly: weights, optimizer, scheduler, RNG streams and step.

The data order needs no state of its own (:mod:`.batches` derives it from the step). A checkpoint is
written into a hidden temporary folder and renamed into place, so a kill mid-save leaves the
previous checkpoint as the newest complete one.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import torch

PREFIX = "step-"
STATE_FILE = "trainer.pt"


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as ``folder/step-NNNNNNN/trainer.pt`` atomically; keep the newest ``keep``."""
    target = folder / f"{PREFIX}{step:07d}"
    building = folder / f".{target.name}.tmp"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    torch.save(state, building / STATE_FILE)
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    for old in checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file())


def load_latest(folder: Path) -> dict[str, Any] | None:
    found = checkpoints(folder)
    if not found:
        return None
    return torch.load(found[-1] / STATE_FILE, map_location="cpu", weights_only=False)
