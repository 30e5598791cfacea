"""Loading a conditions file, and the checks it passes before anything runs: names, references, cycles, and that every
cell can be made.

Each failure is an :class:`~resrank_eval.errors.InputError` at the line of the entry at fault.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..datasets.dataset import Dataset
from ..datasets.registry import get_dataset
from ..errors import InputError, ResrankError
from ..evaluate.metrics import parse_measure
from ..formats.schema import build
from ..formats.yaml_lines import line_of, load_yaml
from ..rerank.registry import reranker_options, rerankers
from ..retrieve.fusion import check_fusion
from .conditions import AUTO, NAME, ConditionsFile, ConditionSpec, DatasetSpec, FirstStage, Grid, local_path

log = logging.getLogger(__name__)


def check_condition(condition: ConditionSpec, index: int, raw: Any, path: Path, base: Path, datasets: dict[str, Dataset]) -> ConditionSpec:
    entry = raw["conditions"][index]
    line = line_of(entry)
    if not NAME.match(condition.name):
        raise InputError(path, line, f"conditions[{index}]: name {condition.name!r} must be one word of letters, digits and . _ + -")
    for name in condition.datasets or ():
        if name not in datasets:
            raise InputError(path, line_of(entry, "datasets"), f"condition {condition.name!r}: unknown dataset {name!r}")
    where = line_of(entry, "first_stage")
    if isinstance(condition.first_stage, dict):
        condition.first_stage = build(FirstStage, condition.first_stage, path, f"conditions[{index}].first_stage", where)
    elif not isinstance(condition.first_stage, str):
        raise InputError(path, where or line, f"condition {condition.name!r}: first_stage must be a mapping (a recipe) or a condition name")
    stage = condition.first_stage
    if isinstance(stage, FirstStage):
        if condition.rerank is not None:
            raise InputError(path, where, f"condition {condition.name!r}: a reranked condition names the condition it reads "
                                          "(first_stage: NAME), so that first stage is a row of its own")
        if stage.method == "dense" and not stage.model:
            raise InputError(path, where, f"condition {condition.name!r}: dense retrieval needs a model")
        if stage.method == "imported" and not stage.source:
            raise InputError(path, where, f"condition {condition.name!r}: an imported first stage names its source (a key of a dataset's first_stages)")
        if stage.method == "fusion":
            try:  # what `fuse` would refuse mid-grid, refused before anything runs
                check_fusion(stage.fusion, stage.weights, len(stage.runs), stage.k)
            except ResrankError as exc:  # its arguments named as the file's keys: fuse's `method` is the stage's `fusion`
                why = exc.naming(lambda name: "fusion" if name == "method" else name)
                raise InputError(path, where, f"condition {condition.name!r}: {why}") from None
        if stage.model:
            stage.model = local_path(stage.model, base, path, where)
    elif condition.rerank is None:
        raise InputError(path, where, f"condition {condition.name!r}: first_stage {stage!r} names a condition, so it needs a rerank")
    if condition.rerank is not None:  # paths among its options read from the file's folder (rerank checks the options)
        line, options = line_of(entry, "rerank"), condition.rerank.options
        cls = rerankers().get(condition.rerank.reranker)  # an unknown name is the rerank check's to refuse
        declared = [o.name for o in cls.options] if cls is not None else list(reranker_options())
        foreign = [key for key in options if key not in declared]
        if foreign:  # the rerank command's own arguments (top_k, run, output, ...) would override the grid's, or it theirs
            raise InputError(path, line, f"condition {condition.name!r}: {foreign[0]!r} is no option of reranker "
                                         f"{condition.rerank.reranker!r} (it takes {', '.join(declared) or 'none'}; top_k and "
                                         "batch_size are keys of rerank, and the grid sets the run, texts and output)")
        condition.rerank.options = {k: local_path(v, base, path, line) if isinstance(v, str) and k in ("model", "dense_index") and v != AUTO
                                    else v for k, v in options.items()}
    return condition


def in_order(conditions: list[ConditionSpec], path: Path, raw: Any) -> dict[str, ConditionSpec]:
    """Conditions keyed by name, each after every condition it reads; unknown names and cycles are errors."""
    known: dict[str, tuple[int, ConditionSpec]] = {}
    for i, c in enumerate(conditions):
        if c.name in known:
            raise InputError(path, line_of(raw["conditions"][i]), f"condition {c.name!r} is defined twice")
        known[c.name] = (i, c)
    ordered: dict[str, ConditionSpec] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        index, condition = known[name]
        for dependency in condition.reads:
            if dependency not in known:
                raise InputError(path, line_of(raw["conditions"][index]), f"condition {name!r} reads unknown condition {dependency!r}")
            if dependency in trail:
                raise InputError(path, line_of(raw["conditions"][index]), f"conditions read each other in a cycle: {' -> '.join((*trail, dependency))}")
            if dependency not in ordered:
                visit(dependency, (*trail, dependency))
        ordered[name] = condition

    for name in known:
        if name not in ordered:
            visit(name, (name,))
    return ordered


def check_cells(grid: Grid, raw: Any) -> None:
    """Every (condition, dataset) cell can be made: the inputs it reads run there, and its first stage exists."""
    index = {c.name: i for i, c in enumerate(grid.spec.conditions)}
    for condition, dataset in grid.cells():
        why = _inapplicable(grid, condition, dataset)
        if why:
            raise InputError(grid.path, line_of(raw["conditions"][index[condition.name]]),
                             f"condition {condition.name!r} cannot run on {dataset.name}: {why} (list the datasets it runs on with `datasets:`)")


def _inapplicable(grid: Grid, condition: ConditionSpec, dataset: Dataset) -> str | None:
    """Why this cell cannot be made (None when it can)."""
    stage = condition.first_stage
    if isinstance(stage, str) or stage.method == "fusion":
        for name in condition.reads:
            upstream = grid.conditions[name]
            if upstream.datasets is not None and dataset.name not in upstream.datasets:
                return f"it reads {name!r}, which does not run there"
        if condition.rerank is not None and dataset.corpus_dir is None and not dataset.prebuilt_index \
                and not any(grid.first_stage_file(dataset.name, k) for k in _imports(grid, condition)):
            return "no passage text (no local corpus, prebuilt index or imported candidates)"
        return None
    if stage.method == "imported":
        return None if grid.first_stage_file(dataset.name, stage.source or "") else f"the dataset has no first stage {stage.source!r}"
    if grid.first_stage_file(dataset.name, stage.method):
        return None
    if stage.method == "dense":
        return "no local corpus to encode" if dataset.corpus_dir is None else None
    return None if dataset.corpus_dir is not None or dataset.prebuilt_index else "no local corpus or prebuilt index"


def _imports(grid: Grid, condition: ConditionSpec) -> list[str]:
    """The first-stage keys (imported sources, or methods served by a dataset's file) this condition's runs descend from."""
    stage = condition.first_stage
    if isinstance(stage, FirstStage) and stage.method != "fusion":
        return [stage.source if stage.method == "imported" else stage.method]  # type: ignore[list-item]
    return [key for name in condition.reads for key in _imports(grid, grid.conditions[name])]


RETRIEVAL_OPTIONS = ("hits", "batch_size", "model")
"""First-stage keys that say how to retrieve: meaningless for a run imported from a file."""


def check_imports(grid: Grid, raw: Any) -> None:
    """A dataset's ``first_stages`` keys name a retrieval method or an imported condition's source (a typo would silently
    retrieve instead), and an imported first stage takes no retrieval options (they would be ignored)."""
    sources = {c.first_stage.source for c in grid.conditions.values() if isinstance(c.first_stage, FirstStage) and c.first_stage.method == "imported"}
    for i, spec in enumerate(grid.spec.datasets):
        for key in spec.first_stages:
            if key not in ("bm25", "dense") and key not in sources:
                raise InputError(grid.path, line_of(raw["datasets"][i], "first_stages"),
                                 f"datasets[{i}].first_stages: {key!r} is no retrieval method (bm25, dense) and no imported condition's source")
    for i, condition in enumerate(grid.spec.conditions):
        stage, entry = condition.first_stage, raw["conditions"][i]
        given = entry.get("first_stage") if isinstance(entry, dict) else None
        if not isinstance(stage, FirstStage) or stage.method == "fusion" or not isinstance(given, dict):
            continue
        meaningless = [key for key in RETRIEVAL_OPTIONS if key in given]
        if meaningless and stage.method == "imported":
            raise InputError(grid.path, line_of(entry, "first_stage"), f"condition {condition.name!r}: {meaningless[0]} does not apply "
                                                                       f"to an imported first stage (the file's run is taken as it is)")
        served = [d for d in (condition.datasets or grid.datasets) if grid.first_stage_file(d, stage.method)]
        if meaningless and served:
            log.warning("%s:%s: condition %r: %s does not apply on %s, whose %s run is imported from a file (taken as it is)",
                        grid.path, line_of(entry, "first_stage"), condition.name, meaningless[0], ", ".join(served), stage.method)


def check_expected(grid: Grid, raw: Any) -> None:
    where = raw.get("expected") if isinstance(raw, dict) else None
    for condition, by_dataset in grid.spec.expected.items():
        line = line_of(where, condition)
        if condition not in grid.conditions:
            raise InputError(grid.path, line, f"expected: unknown condition {condition!r}")
        for dataset, scores in by_dataset.items():
            if dataset not in grid.datasets:
                raise InputError(grid.path, line, f"expected: {condition}: unknown dataset {dataset!r}")
            if dataset not in (grid.conditions[condition].datasets or grid.datasets):  # a pin no run would ever check
                raise InputError(grid.path, line_of(where.get(condition), dataset) or line,
                                 f"expected: {condition} does not run on {dataset!r} (not among its datasets)")
            for measure in scores:
                try:
                    parse_measure(measure)
                except ResrankError as exc:
                    raise InputError(grid.path, line, f"expected: {condition}: {dataset}: {exc}") from None


def load_grid(path: str | Path) -> Grid:
    """Parse and check a conditions file; every error names ``file:line``."""
    path = Path(path)
    raw = load_yaml(path, "conditions file")
    if isinstance(raw, dict) and raw.get("expected", {}) is None:
        raw["expected"] = {}  # a bare `expected:` waiting for --pin
    spec: ConditionsFile = build(ConditionsFile, raw, path, "")
    base = path.resolve().parent
    datasets = {}
    for i, ds in enumerate(spec.datasets):
        line = line_of(raw["datasets"][i])
        if not ds.name or ds.name in datasets:
            raise InputError(path, line, f"datasets[{i}]: needs a name, not given twice (got {ds.name!r})")
        ds.corpus = local_path(ds.corpus, base, path, line, must_exist=True) if ds.corpus else None
        ds.first_stages = {k: local_path(v, base, path, line, must_exist=True) for k, v in ds.first_stages.items()}
        dataset = _resolved(ds, path, line)
        clash = next((other.name for other in datasets.values() if other.slug == dataset.slug), None)
        if clash is not None:  # run paths are named by the slug: the second dataset's runs would overwrite the first's
            raise InputError(path, line, f"datasets[{i}]: {ds.name!r} and {clash!r} share the folder {dataset.slug} (rename one)")
        datasets[ds.name] = dataset
    conditions = in_order([check_condition(c, i, raw, path, base, datasets) for i, c in enumerate(spec.conditions)], path, raw)
    lines = {c.name: line_of(raw["conditions"][i], "rerank" if c.rerank is not None else "first_stage") for i, c in enumerate(spec.conditions)}
    grid = Grid(path, spec, datasets, conditions, lines)
    check_cells(grid, raw)
    check_imports(grid, raw)
    check_expected(grid, raw)
    if spec.baseline is not None and spec.baseline not in conditions:
        raise InputError(path, line_of(raw, "baseline"), f"baseline {spec.baseline!r} is not a condition")
    try:
        parse_measure(spec.measure)
    except ResrankError as exc:
        raise InputError(path, line_of(raw, "measure"), str(exc)) from None
    return grid


def _resolved(spec: DatasetSpec, path: Path, line: int | None) -> Dataset:
    """The registered benchmark (with ``corpus`` as its local copy), or a BEIR directory under any name."""
    try:
        return get_dataset(spec.name, spec.corpus, spec.split)
    except ResrankError as exc:
        raise InputError(path, line, str(exc)) from None
