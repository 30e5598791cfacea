"""Each cell of the grid as the ``resrank-eval`` commands that make it: one source of truth per step.

A :class:`Command` is a command line (Pyserini's 2CR keeps each condition as its ``command:``);
``reproduce`` runs it in-process through the CLI (so the command's own checks, skip and resume apply,
exactly as when it is typed) and ``reproduce --dry-run`` prints it. Every run lands in the leaderboard
layout ``<output>/<dataset>/run.<dataset>.<condition>.txt`` (reranks add ``.stats.jsonl`` and
``.summary.json``, imports ``.passages.jsonl``, every step ``.provenance.json``), its run tag the
condition's name. A corpus encoded for dense retrieval or a reranker lives in the cache, under the digest
of what makes it, so every grid (and the demo) shares one encoding and ``--overwrite`` never redoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.dataset import Dataset
from ..datasets.interchange import passage_store
from ..errors import ResrankError
from .conditions import AUTO, ConditionSpec, FirstStage, Grid


@dataclass(frozen=True)
class Command:
    """One ``resrank-eval`` command line (without the program name); ``cached`` ones fill the cache (never overwritten)."""

    argv: list[str]
    cached: bool = False

    @property
    def outputs(self) -> list[Path]:
        """The paths it writes (``--output``, or ``--index`` of ``encode``)."""
        flag = "--index" if self.argv[0] == "encode" else "--output"
        return [Path(self.argv[i + 1]) for i, arg in enumerate(self.argv[:-1]) if arg == flag]


@dataclass
class Cell:
    """A condition on a dataset, where its run goes, and the commands that make it."""

    grid: Grid
    condition: ConditionSpec
    dataset: Dataset
    root: Path

    @property
    def run_path(self) -> Path:
        return run_path(self.root, self.condition.name, self.dataset)

    def commands(self) -> list[Command]:
        """The command lines, in order (an encoding before the dense retrieval or rerank that reads it)."""
        stage = self.condition.first_stage
        if self.condition.rerank is not None:
            return self._rerank()
        assert isinstance(stage, FirstStage)
        out = {"run_tag": self.condition.name, "output": self.run_path}
        source = _imported_file(self.grid, stage, self.dataset.name)
        if source is not None and _is_candidates(source):
            return [Command(["import-candidates", source, *_option_args(out)])]
        if source is not None:
            return [Command(["convert-run", source, *_option_args({"to": "trec", **out})])]
        if stage.method == "fusion":
            inputs = [str(run_path(self.root, name, self.dataset)) for name in stage.runs]
            weights = ",".join(_number(w) for w in stage.weights) if stage.weights else None
            fuse = {"method": stage.fusion, "weights": weights, "rrf.k": stage.k, "depth": stage.depth, "hits": stage.hits, **out}
            return [Command(["fuse", *inputs, *_option_args(fuse)])]
        search = {"hits": stage.hits, "batch_size": stage.batch_size, **out, "threads": self.grid.spec.threads}
        if stage.method == "dense":
            assert stage.model is not None
            index = self._encode(stage.model, None, stage.batch_size)
            return [index, Command(["retrieve", *self._dataset_args(), *_option_args({"method": "dense", "model": stage.model,
                                                                                      "index": index.outputs[0], **search})])]
        return [Command(["retrieve", *self._dataset_args(), *_option_args({"method": "bm25", **search})])]

    def _encode(self, model: str, dtype: str | None, batch_size: int = 64) -> Command:
        """The corpus encoded by ``model`` into the cache (see :func:`~resrank_eval.retrieve.dense.cached_index_dir`)."""
        from ..retrieve.dense import cached_index_dir

        assert self.dataset.corpus_dir is not None
        threads = self.grid.spec.threads
        index = cached_index_dir(self.dataset.corpus_dir, self.dataset.name, model, dtype, batch_size, threads)
        encode = {"model": model, "index": index, "batch_size": batch_size, "dtype": dtype, "threads": threads}
        return Command(["encode", *self._dataset_args(split=False), *_option_args(encode)], cached=True)

    # ----- reranking -----

    def _rerank(self) -> list[Command]:
        rerank = self.condition.rerank
        assert rerank is not None and isinstance(self.condition.first_stage, str)
        first = run_path(self.root, self.condition.first_stage, self.dataset)
        options = dict(rerank.options)
        commands = []
        if options.get("dense_index") == AUTO:
            options["dense_index"] = None
            if self.dataset.corpus_dir is not None:
                encode = self._encode(str(options.get("model")), options.get("dtype"))
                options["dense_index"] = str(encode.outputs[0])
                commands.append(encode)
        split = self._dataset_args()[len(self._dataset_args(split=False)):]  # --split SPLIT when not test
        return [*commands, Command(["rerank", "--dataset", self.dataset.name, *self._texts(), *split, *_option_args(
            {"run": first, "reranker": rerank.reranker, **options, "top_k": rerank.top_k, "batch_size": rerank.batch_size,
             "threads": self.grid.spec.threads, "run_tag": self.condition.name, "output": self.run_path})])]

    def _texts(self) -> list[str]:
        """Where the reranker reads passage text: the local corpus, an imported passage store, or a prebuilt Lucene index."""
        if self.dataset.corpus_dir is not None:
            return self._dataset_args(split=False)[2:]
        roots = _imported_roots(self.grid, self.condition, self.dataset.name)
        if roots:
            return ["--corpus", str(passage_store(run_path(self.root, roots[0], self.dataset)))]
        prebuilt = self.dataset.prebuilt_index
        if prebuilt is None:
            raise ResrankError(f"condition {self.condition.name!r} on {self.dataset.name}: no passage text")
        return ["--index", prebuilt]

    def _dataset_args(self, split: bool = True) -> list[str]:
        """``--dataset`` plus ``--corpus``/``--split`` where the corpus is not the registry's own."""
        spec = next(s for s in self.grid.spec.datasets if s.name == self.dataset.name)
        args = ["--dataset", self.dataset.name]
        if spec.corpus:
            args += ["--corpus", spec.corpus]
        if split and spec.split != "test":
            args += ["--split", spec.split]
        return args


def run_path(root: Path, condition: str, dataset: Dataset) -> Path:
    """The leaderboard layout: ``<root>/<dataset>/run.<dataset>.<condition>.txt``."""
    return root / dataset.slug / f"run.{dataset.slug}.{condition}.txt"


def _is_candidates(path: str) -> bool:
    name = Path(path).name.removesuffix(".gz")
    return name.endswith((".json", ".jsonl"))


def _imported_roots(grid: Grid, condition: ConditionSpec, dataset: str) -> list[str]:
    """Conditions upstream of this one whose runs on ``dataset`` were imported from candidate files (they carry passage stores)."""
    roots = []
    for name in condition.reads:
        upstream = grid.conditions[name]
        if isinstance(upstream.first_stage, FirstStage) and upstream.first_stage.method != "fusion":
            source = _imported_file(grid, upstream.first_stage, dataset)
            roots.extend([name] if source and _is_candidates(source) else [])
        else:
            roots.extend(_imported_roots(grid, upstream, dataset))
    return roots


def _imported_file(grid: Grid, stage: FirstStage, dataset: str) -> str | None:
    """The file a BM25, dense or imported first stage takes from the conditions file on ``dataset``, if any."""
    key = stage.source or "" if stage.method == "imported" else stage.method
    return None if stage.method == "fusion" else grid.first_stage_file(dataset, key)


def _number(value: float) -> str:
    """A number as short as it reads back exactly (``0.1``, ``60``), so the printed command means what the grid ran."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _option_args(options: dict[str, Any]) -> list[str]:
    """Options as the flags a command takes (``dense_index`` -> ``--dense-index``; None: left out)."""
    args: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{flag[2:]}")
        elif value is not None:
            args += [flag, _number(value) if isinstance(value, float) else str(value)]
    return args
