"""Pinned expectations in the style of Pyserini's 2CR: command, expected scores, tolerance.

Each entry names the command that produced its run; ``regress`` runs it again (in-process, into a
scratch runs folder; ``{data}`` is the bundled data folder), scores the fresh run, and reports OK/FAIL per measure. Any FAIL is fatal.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..datasets.registry import get_dataset
from ..errors import InputError
from ..formats.trec import read_run
from ..paths import data_dir
from .metrics import evaluate

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "configs" / "regressions.yaml"
DEFAULT_TOLERANCE = 0.0005


@dataclass(frozen=True)
class Regression:
    name: str
    dataset: str
    command: str
    expected: dict[str, float]
    tolerance: float = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class Check:
    regression: str
    measure: str
    expected: float
    actual: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.actual - self.expected) <= self.tolerance


def load_regressions(path: str | Path = DEFAULT_FILE) -> list[Regression]:
    """Parse and validate the YAML file of pinned runs."""
    with open(path, encoding="utf-8") as handle:
        entries = yaml.safe_load(handle)
    if not isinstance(entries, list):
        raise InputError(path, None, "expected a YAML list of regressions")
    out = []
    for i, entry in enumerate(entries):
        try:
            out.append(Regression(entry["name"], entry["dataset"], entry["command"], {str(k): float(v) for k, v in entry["expected"].items()},
                                  float(entry.get("tolerance", DEFAULT_TOLERANCE))))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(path, None, f"entry {i}: needs name, dataset, command, expected ({exc})") from None
    return out


def run_regression(regression: Regression, runs_dir: Path, invoke: Callable[[list[str]], None]) -> list[Check]:
    """Re-create the run with ``invoke`` (the CLI entry point) and compare its scores."""
    output = runs_dir / f"run.{regression.name}.txt"
    args = [arg.replace("{output}", str(output)).replace("{data}", str(data_dir())) for arg in shlex.split(regression.command)]
    if args and args[0] == "resrank-eval":
        args = args[1:]
    invoke([*args, "--overwrite"])
    evaluation = evaluate(read_run(output), get_dataset(regression.dataset).qrels(), list(regression.expected))
    mean = evaluation.mean
    return [Check(regression.name, m, exp, mean[m], regression.tolerance) for m, exp in regression.expected.items()]
