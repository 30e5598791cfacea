"""Pinned expectations in the style of Pyserini's 2CR: command, expected scores, tolerance.

Each entry names the command that produced its run; ``regress`` runs it again (in-process, into a
scratch runs folder; ``{data}`` is the bundled data folder), scores the fresh run, and reports OK/FAIL per measure. Any FAIL is fatal.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..datasets.registry import get_dataset
from ..errors import InputError, ResrankError
from ..formats.trec import read_run
from ..formats.yaml_lines import line_of, load_yaml
from ..paths import configs_dir, data_dir
from .metrics import evaluate

DEFAULT_FILE = configs_dir() / "regressions.yaml"
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
    """Parse and validate the YAML file of pinned runs; errors name the entry's line."""
    entries = load_yaml(path, "regression file")
    if not isinstance(entries, list):
        raise InputError(path, None, "expected a YAML list of regressions")
    out = []
    for i, entry in enumerate(entries):
        try:
            out.append(Regression(entry["name"], entry["dataset"], entry["command"], {str(k): float(v) for k, v in entry["expected"].items()},
                                  float(entry.get("tolerance", DEFAULT_TOLERANCE))))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(path, line_of(entry), f"entry {i + 1}: needs name, dataset, command, expected: {{measure: score}} ({exc!r})") from None
    return out


def select(regressions: list[Regression], names: list[str] | tuple[str, ...]) -> list[Regression]:
    """The named regressions (all when none are named); an unknown name is an error, not a silent no-op."""
    known = [r.name for r in regressions]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ResrankError(f"no regression named {unknown[0]!r}; known: {', '.join(known)}")
    return [r for r in regressions if not names or r.name in names]


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
