"""Each cell of the grid as the library calls that make it and the equivalent single ``resrank-eval`` commands.

One :class:`Action` per step holds both: ``run()`` calls the library (what ``reproduce`` does) and
``command`` is the CLI line that writes the same file (what ``reproduce --dry-run`` prints); a test
runs the printed commands and compares the files byte for byte. Every run lands in the leaderboard
layout ``<output>/<dataset>/run.<dataset>.<condition>.txt`` (reranks add ``.stats.jsonl`` and
``.summary.json``; imports add ``.passages.jsonl``), its run tag the condition's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.registry import Dataset
from ..errors import ResrankError
from .conditions import AUTO, ConditionSpec, FirstStage, Grid

PASSAGES = ".passages.jsonl"


@dataclass
class Action:
    """One step: the CLI arguments that do it, and the same work as a library call."""

    command: list[str]
    run: Callable[[], None]


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

    def done(self) -> bool:
        """Skip-if-exists: the run and the files that come with it are all there."""
        needed = [self.run_path]
        if self.condition.rerank is not None:
            needed.append(self.run_path.with_name(self.run_path.name + ".summary.json"))
        elif self._imported_file() and _is_candidates(self._imported_file()):
            needed.append(self.run_path.with_name(self.run_path.name + PASSAGES))
        return all(p.exists() for p in needed)

    def actions(self, overwrite: bool = False) -> list[Action]:
        stage = self.condition.first_stage
        if self.condition.rerank is not None:
            return self._rerank(overwrite)
        assert isinstance(stage, FirstStage)
        if self._imported_file():
            return [self._import()]
        if stage.method == "fusion":
            return [self._fusion(stage)]
        if stage.method == "dense":
            return self._dense(stage)
        return [self._bm25(stage)]

    # ----- first stages -----

    def _imported_file(self) -> str | None:
        stage = self.condition.first_stage
        if not isinstance(stage, FirstStage) or stage.method == "fusion":
            return None
        return self.grid.first_stage_file(self.dataset.name, stage.source if stage.method == "imported" else stage.method)  # type: ignore[arg-type]

    def _import(self) -> Action:
        source, out, tag = self._imported_file(), self.run_path, self.condition.name
        assert source is not None
        if _is_candidates(source):
            def run() -> None:
                from ..datasets.corpus import write_corpus
                from ..formats.candidates import read_candidates
                from ..formats.trec import write_run

                data = read_candidates(source)
                write_corpus(f"{out}{PASSAGES}", data.passages)
                write_run(out, data.run, tag)

            return Action(["import-candidates", source, "--output", str(out), "--tag", tag], run)

        def convert() -> None:
            from ..formats.msmarco import looks_like_msmarco, read_msmarco_run
            from ..formats.trec import read_run, write_run

            write_run(out, read_msmarco_run(source) if looks_like_msmarco(source) else read_run(source), tag)

        return Action(["convert-run", source, "--to", "trec", "--run-tag", tag, "--output", str(out)], convert)

    def _bm25(self, stage: FirstStage) -> Action:
        threads = self.grid.spec.threads

        def run() -> None:
            from ..formats.trec import write_run
            from ..retrieve import retrieve

            write_run(self.run_path, retrieve(self.dataset, "bm25", hits=stage.hits, threads=threads), self.condition.name)

        return Action(["retrieve", *self._dataset_args(), "--method", "bm25", "--hits", str(stage.hits), "--threads", str(threads),
                       "--run-tag", self.condition.name, "--output", str(self.run_path)], run)

    def _dense(self, stage: FirstStage) -> list[Action]:
        from ..retrieve.dense import cached_dense_index

        assert stage.model is not None and self.dataset.corpus_dir is not None
        model, corpus, threads = stage.model, self.dataset.corpus_dir, self.grid.spec.threads
        index = dense_index_path(corpus, self.dataset.name, model)

        def encode() -> None:
            cached_dense_index(corpus, self.dataset.name, model, batch_size=stage.batch_size)

        def run() -> None:
            from ..formats.trec import write_run
            from ..retrieve import retrieve

            found = retrieve(self.dataset, "dense", index=index, model=model, hits=stage.hits, batch_size=stage.batch_size, threads=threads)
            write_run(self.run_path, found, self.condition.name)

        return [Action(["encode", *self._dataset_args(split=False), "--model", model, "--index", str(index),
                        "--batch-size", str(stage.batch_size)], encode),
                Action(["retrieve", *self._dataset_args(), "--method", "dense", "--model", model, "--index", str(index),
                        "--hits", str(stage.hits), "--batch-size", str(stage.batch_size), "--threads", str(threads),
                        "--run-tag", self.condition.name, "--output", str(self.run_path)], run)]

    def _fusion(self, stage: FirstStage) -> Action:
        inputs = [run_path(self.root, name, self.dataset) for name in stage.runs]

        def run() -> None:
            from ..formats.trec import read_run, write_run
            from ..retrieve.fusion import fuse

            fused = fuse([read_run(p) for p in inputs], stage.fusion, stage.weights, stage.k, stage.depth, stage.hits)
            write_run(self.run_path, fused, self.condition.name)

        weights = ["--weights", ",".join(f"{w:g}" for w in stage.weights)] if stage.weights else []
        k = ["--k", f"{stage.k:g}"] if stage.fusion == "rrf" else []
        return Action(["fuse", *map(str, inputs), "--method", stage.fusion, *weights, *k, "--depth", str(stage.depth), "--hits", str(stage.hits),
                       "--run-tag", self.condition.name, "--output", str(self.run_path)], run)

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
        text_args, passages = self._texts()

        def run() -> None:
            from ..formats.trec import read_run
            from ..rerank.registry import load_reranker
            from ..rerank.sink import RunSink, rerank_to_files

            reranker = load_reranker(rerank.reranker, **options)
            sink = RunSink(self.run_path, rerank.reranker, self.condition.name)
            rerank_to_files(reranker, self.dataset.topics(), read_run(first), passages(), sink, rerank.top_k, rerank.batch_size, overwrite)

        command = ["rerank", "--dataset", self.dataset.name, *text_args, "--run", str(first), "--reranker", rerank.reranker,
                   *_option_args(options), "--top-k", str(rerank.top_k), "--batch-size", str(rerank.batch_size),
                   "--run-tag", self.condition.name, "--output", str(self.run_path), *(["--overwrite"] if overwrite else [])]
        return [*actions, Action(command, run)]

    def _texts(self) -> tuple[list[str], Callable[[], Any]]:
        """Where the reranker reads passage text: the local corpus, an imported passage store, or a Lucene index."""
        from ..datasets.corpus import load_passages

        corpus = self.dataset.corpus_dir
        if corpus is not None:
            return self._dataset_args(split=False)[2:], lambda: self.dataset.passages
        roots = _imported_roots(self.grid, self.condition, self.dataset.name)
        if roots:
            store = Path(f"{run_path(self.root, roots[0], self.dataset)}{PASSAGES}")
            return ["--corpus", str(store)], lambda: (lambda docids: load_passages(store, docids))
        prebuilt = self.dataset.prebuilt_index
        if prebuilt is None:
            raise ResrankError(f"condition {self.condition.name!r} on {self.dataset.name}: no passage text")

        def lucene() -> Any:
            from ..retrieve.bm25 import lucene_passages, open_searcher

            searcher = open_searcher(prebuilt)
            return lambda docids: lucene_passages(searcher, docids)

        return ["--index", prebuilt], lucene

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


def dense_index_path(corpus: Path, name: str, model: str, dtype: str | None = None) -> Path:
    """Where :func:`~resrank_eval.retrieve.dense.cached_dense_index` keeps this corpus encoded by this model."""
    from ..retrieve.dense import cached_dense_index

    return cached_dense_index(corpus, name, model, dtype, build=False)


def _encode(corpus: Path, name: str, model: str, dtype: str | None) -> None:
    from ..retrieve.dense import cached_dense_index

    cached_dense_index(corpus, name, model, dtype)


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
