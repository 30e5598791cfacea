"""A default that means one thing is one constant, read by every function, dataclass and option that defaults to it.

The rerank depth (``top_k``) was written as a number in five places, free to drift apart one edit at a time.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import click

from resrank_eval.cli import main
from resrank_eval.demo import run_demo
from resrank_eval.reproduce.conditions import RerankSpec
from resrank_eval.rerank.pipeline import TOP_K, rerank_run
from resrank_eval.rerank.sink import rerank_step


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
