"""Each cell of the grid as the library calls that make it and the equivalent single ``resrank-eval`` commands.

One :class:`Action` per step holds both: ``run()`` calls the library function the command calls, with
the same arguments (what ``reproduce`` does), and ``command`` is that CLI line (what ``reproduce
--dry-run`` prints); a test runs the printed commands and compares the files, provenance records
included, byte for byte. So skipping is the commands' own: an output is kept only when its
:class:`~resrank_eval.provenance.Provenance` says it was made exactly so, and a condition whose
arguments changed in the conditions file is refused, naming the difference (``--overwrite`` redoes
it). Every run lands in the leaderboard layout ``<output>/<dataset>/run.<dataset>.<condition>.txt``
(reranks add ``.stats.jsonl`` and ``.summary.json``; imports add ``.passages.jsonl``; first stages
``.provenance.json``), its run tag the condition's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.dataset import Dataset
from ..errors import ResrankError
from ..formats.candidates import import_candidates, passage_store
from ..formats.msmarco import convert_run
from ..retrieve.fusion import fuse_to_file
from ..retrieve.search import retrieve_to_file
from .conditions import AUTO, ConditionSpec, FirstStage, Grid


@dataclass
class Action:
    """One step: the CLI arguments that do it, and the same work as a library call, True when it made something
    (False: its outputs were made exactly so already)."""

    command: list[str]
    run: Callable[[], bool]


@dataclass
class Cell:
    """A condition on a dataset, where its run goes, and how to make it."""

    grid: Grid
    condition: ConditionSpec
    dataset: Dataset
    root: Path

    @property
    def run_path(self) -> Path:
        return run_path(self.root, self.condition.name, self.dataset)

    def actions(self, overwrite: bool = False) -> list[Action]:
        """The steps, each redoing its outputs with ``overwrite`` (a cached dense index is keyed by what made it, so never redone)."""
        stage = self.condition.first_stage
        if self.condition.rerank is not None:
            return self._rerank(overwrite)
        assert isinstance(stage, FirstStage)
        flag = ["--overwrite"] if overwrite else []
        if self._imported_file():
            return [self._import(overwrite, flag)]
        if stage.method == "fusion":
            return [self._fusion(stage, overwrite, flag)]
        if stage.method == "dense":
            return self._dense(stage, overwrite, flag)
        return [self._bm25(stage, overwrite, flag)]

    # ----- first stages -----

    def _imported_file(self) -> str | None:
        stage = self.condition.first_stage
        if not isinstance(stage, FirstStage) or stage.method == "fusion":
            return None
        return self.grid.first_stage_file(self.dataset.name, stage.source if stage.method == "imported" else stage.method)  # type: ignore[arg-type]

    def _import(self, overwrite: bool, flag: list[str]) -> Action:
        source, out, tag = self._imported_file(), self.run_path, self.condition.name
        assert source is not None
        if _is_candidates(source):
            return Action(["import-candidates", source, "--output", str(out), "--tag", tag, *flag],
                          lambda: import_candidates(source, out, tag=tag, overwrite=overwrite) is not None)
        return Action(["convert-run", source, "--to", "trec", "--run-tag", tag, "--output", str(out), *flag],
                      lambda: convert_run(source, out, "trec", tag, overwrite) is not None)

    def _bm25(self, stage: FirstStage, overwrite: bool, flag: list[str]) -> Action:
        threads, tag = self.grid.spec.threads, self.condition.name

        def run() -> bool:
            return retrieve_to_file(self.run_path, self.dataset, "bm25", hits=stage.hits, batch_size=stage.batch_size, threads=threads,
                                    overwrite=overwrite, run_tag=tag) is not None

        return Action(["retrieve", *self._dataset_args(), "--method", "bm25", "--hits", str(stage.hits), "--batch-size", str(stage.batch_size),
                       "--threads", str(threads), "--run-tag", tag, "--output", str(self.run_path), *flag], run)

    def _dense(self, stage: FirstStage, overwrite: bool, flag: list[str]) -> list[Action]:
        assert stage.model is not None and self.dataset.corpus_dir is not None
        model, corpus, threads, tag = stage.model, self.dataset.corpus_dir, self.grid.spec.threads, self.condition.name
        index = dense_index_path(corpus, self.dataset.name, model, batch_size=stage.batch_size)

        def run() -> bool:
            return retrieve_to_file(self.run_path, self.dataset, "dense", index=index, model=model, hits=stage.hits,
                                    batch_size=stage.batch_size, threads=threads, overwrite=overwrite, run_tag=tag) is not None

        return [Action(["encode", *self._dataset_args(split=False), "--model", model, "--index", str(index),
                        "--batch-size", str(stage.batch_size)],
                       lambda: _encode(corpus, self.dataset.name, model, batch_size=stage.batch_size)),
                Action(["retrieve", *self._dataset_args(), "--method", "dense", "--model", model, "--index", str(index),
                        "--hits", str(stage.hits), "--batch-size", str(stage.batch_size), "--threads", str(threads),
                        "--run-tag", tag, "--output", str(self.run_path), *flag], run)]

    def _fusion(self, stage: FirstStage, overwrite: bool, flag: list[str]) -> Action:
        inputs = [run_path(self.root, name, self.dataset) for name in stage.runs]

        def run() -> bool:
            return fuse_to_file(inputs, self.run_path, stage.fusion, stage.weights, stage.k, stage.depth, stage.hits, self.condition.name,
                                overwrite) is not None

        weights = ["--weights", ",".join(_number(w) for w in stage.weights)] if stage.weights else []
        k = ["--k", _number(stage.k)] if stage.fusion == "rrf" else []
        return Action(["fuse", *map(str, inputs), "--method", stage.fusion, *weights, *k, "--depth", str(stage.depth), "--hits", str(stage.hits),
                       "--run-tag", self.condition.name, "--output", str(self.run_path), *flag], run)

    # ----- reranking -----

    def _rerank(self, overwrite: bool) -> list[Action]:
        rerank = self.condition.rerank
        assert rerank is not None and isinstance(self.condition.first_stage, str)
        first = run_path(self.root, self.condition.first_stage, self.dataset)
        options = dict(rerank.options)
        actions = []
        if options.get("dense_index") == AUTO:
            options["dense_index"] = None
            if self.dataset.corpus_dir is not None:
                corpus, model, dtype = self.dataset.corpus_dir, str(options.get("model")), options.get("dtype")
                index = dense_index_path(corpus, self.dataset.name, model, dtype)
                options["dense_index"] = str(index)
                actions.append(Action(["encode", *self._dataset_args(split=False), "--model", model, "--index", str(index),
                                       *(["--dtype", dtype] if dtype else [])],
                                      lambda: _encode(corpus, self.dataset.name, model, dtype)))
        text_args, corpus_text, lucene_index = self._texts()

        def run() -> bool:
            """What ``rerank`` does, without its sharding: the provenance checked before any text or model is loaded."""
            from ..datasets.passages import passage_source
            from ..formats.trec import read_run
            from ..rerank.registry import reranker_arguments
            from ..rerank.sink import RunSink, rerank_to_files

            cls, arguments = reranker_arguments(rerank.reranker, **options)
            topics, first_stage = self.dataset.topics(), read_run(first)
            lookup, texts = passage_source(corpus_text, lucene_index)
            sink = RunSink(self.run_path, rerank.reranker, self.condition.name, options=arguments, inputs=texts)
            if sink.up_to_date(sink.provenance(topics, first_stage, rerank.top_k, rerank.batch_size), overwrite):
                return False
            passages = lookup({c.docid for hits in first_stage.values() for c in hits[:rerank.top_k]})
            rerank_to_files(cls.from_options(**arguments), topics, first_stage, passages, sink, rerank.top_k, rerank.batch_size, overwrite)
            return True

        split = self._dataset_args()[len(self._dataset_args(split=False)):]  # --split SPLIT when not test
        command = ["rerank", "--dataset", self.dataset.name, *text_args, *split, "--run", str(first), "--reranker", rerank.reranker,
                   *_option_args(options), "--top-k", str(rerank.top_k), "--batch-size", str(rerank.batch_size),
                   "--run-tag", self.condition.name, "--output", str(self.run_path), *(["--overwrite"] if overwrite else [])]
        return [*actions, Action(command, run)]

    def _texts(self) -> tuple[list[str], Path | None, str | None]:
        """Where the reranker reads passage text -- the local corpus, an imported passage store, or a Lucene index -- as
        ``rerank``'s options and as the corpus and index that command hands :func:`~resrank_eval.datasets.passages.passage_source`."""
        if self.dataset.corpus_dir is not None:
            args = self._dataset_args(split=False)[2:]
            return args, Path(args[1]) if args else self.dataset.corpus_dir, None
        roots = _imported_roots(self.grid, self.condition, self.dataset.name)
        if roots:
            store = passage_store(run_path(self.root, roots[0], self.dataset))
            return ["--corpus", str(store)], store, None
        prebuilt = self.dataset.prebuilt_index
        if prebuilt is None:
            raise ResrankError(f"condition {self.condition.name!r} on {self.dataset.name}: no passage text")
        return ["--index", prebuilt], None, prebuilt

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


def dense_index_path(corpus: Path, name: str, model: str, dtype: str | None = None, batch_size: int = 64) -> Path:
    """Where :func:`~resrank_eval.retrieve.dense.cached_dense_index` keeps this corpus encoded by this model."""
    from ..retrieve.dense import cached_dense_index

    return cached_dense_index(corpus, name, model, dtype, batch_size, build=False)


def _encode(corpus: Path, name: str, model: str, dtype: str | None = None, batch_size: int = 64) -> bool:
    """The cached index built unless it is there (its folder is named by the digest of what makes it); True when built."""
    from ..retrieve.dense import META_FILE, cached_dense_index

    built = (dense_index_path(corpus, name, model, dtype, batch_size) / META_FILE).is_file()
    cached_dense_index(corpus, name, model, dtype, batch_size)
    return not built


def _is_candidates(path: str) -> bool:
    name = Path(path).name.removesuffix(".gz")
    return name.endswith((".json", ".jsonl"))


def _imported_roots(grid: Grid, condition: ConditionSpec, dataset: str) -> list[str]:
    """Conditions upstream of this one whose runs on ``dataset`` were imported from candidate files (they carry passage stores)."""
    roots = []
    for name in condition.reads:
        upstream = grid.conditions[name]
        stage = upstream.first_stage
        if isinstance(stage, FirstStage) and stage.method != "fusion":
            source = grid.first_stage_file(dataset, (stage.source if stage.method == "imported" else stage.method) or "")
            roots.extend([name] if source and _is_candidates(source) else [])
        else:
            roots.extend(_imported_roots(grid, upstream, dataset))
    return roots


def _number(value: float) -> str:
    """A number as short as it reads back exactly (``0.1``, ``60``), so the printed command means what the grid ran."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _option_args(options: dict[str, Any]) -> list[str]:
    """A reranker's options as the flags ``rerank`` takes (``dense_index`` -> ``--dense-index``)."""
    args: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{flag[2:]}")
        elif value is not None:
            args += [flag, str(value)]
    return args
