"""README's Python API section, executed: its example must run and print what README says it prints."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

import resrank_eval as rr

from .conftest import REPO

NUMBER = re.compile(r"\d+\.\d+")


def readme_blocks(language: str) -> list[str]:
    """The ``language`` code blocks of README's "Python API" section, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


@pytest.mark.slow
def test_the_python_example_runs_and_prints_what_readme_shows() -> None:
    example, _ = readme_blocks("python")
    (shown,) = readme_blocks("text")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
    printed, expected = out.getvalue().splitlines(), shown.splitlines()
    assert [NUMBER.sub("#", line) for line in printed] == [NUMBER.sub("#", line) for line in expected]
    for got, want in zip(printed, expected):  # the scores, to regress's tolerance
        assert [float(x) for x in NUMBER.findall(got)] == pytest.approx([float(x) for x in NUMBER.findall(want)], abs=5e-4)


def test_the_reranker_sketch_registers_itself() -> None:
    _, sketch = readme_blocks("python")
    namespace = {"rr": rr, "__name__": "readme_sketch"}
    exec(compile(sketch, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert rr.rerankers()["reverse"] is namespace["Reverse"]
    assert [o.flag for o in namespace["Reverse"].options] == ["--keep-first"]
