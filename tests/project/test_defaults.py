"""A default that means one thing is one constant, read by every function, dataclass and option that defaults to it.

The rerank depth (``top_k``) and a leaderboard run's hits were each written as a number in five or more places, free
to drift apart one edit at a time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import click

from resrank_eval.cli import main
from resrank_eval.demo import run_demo
from resrank_eval.formats.trec import LEADERBOARD_HITS
from resrank_eval.report.validate import validate_file, validate_run
from resrank_eval.reproduce.conditions import FirstStage, RerankSpec
from resrank_eval.rerank.pipeline import TOP_K, rerank_run
from resrank_eval.rerank.sink import rerank_step
from resrank_eval.retrieve.bm25 import bm25_search
from resrank_eval.retrieve.fusion import fuse, fuse_step
from resrank_eval.retrieve.search import retrieve, retrieve_step


def default(function: Callable[..., Any], name: str) -> Any:
    return inspect.signature(function).parameters[name].default


def option_default(command: str, name: str) -> Any:
    found = main.get_command(click.Context(main), command)
    assert found is not None, command
    return next(p.default for p in found.params if p.name == name)


def test_the_rerank_depth_has_one_owner() -> None:
    defaults = {
        "rerank_run": default(rerank_run, "top_k"),
        "rerank_step": default(rerank_step, "top_k"),
        "run_demo": default(run_demo, "top_k"),
        "RerankSpec": RerankSpec().top_k,
        "rerank --top-k": option_default("rerank", "top_k"),
        "demo --top-k": option_default("demo", "top_k"),
    }
    assert {where: value for where, value in defaults.items() if value != TOP_K} == {}


def test_a_leaderboard_runs_hits_have_one_owner() -> None:
    defaults = {
        "fuse depth": default(fuse, "depth"),
        "fuse hits": default(fuse, "hits"),
        "fuse_step depth": default(fuse_step, "depth"),
        "fuse_step hits": default(fuse_step, "hits"),
        "retrieve": default(retrieve, "hits"),
        "retrieve_step": default(retrieve_step, "hits"),
        "bm25_search": default(bm25_search, "hits"),
        "validate_file": default(validate_file, "max_hits"),
        "validate_run": default(validate_run, "max_hits"),
        "FirstStage hits": FirstStage().hits,
        "FirstStage depth": FirstStage().depth,
        "fuse --depth": option_default("fuse", "depth"),
        "fuse --hits": option_default("fuse", "hits"),
        "retrieve --hits": option_default("retrieve", "hits"),
        "validate --max-hits": option_default("validate", "max_hits"),
    }
    assert {where: value for where, value in defaults.items() if value != LEADERBOARD_HITS} == {}
