"""README's Python API section, executed: its example must run and print what README says it prints."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

import resrank_eval as rr
from resrank_eval.rerank.resrank import ResRankReranker
from tests.helpers import REPO

NUMBER = re.compile(r"\d+\.\d+")


def readme_blocks(language: str) -> list[str]:
    """The ``language`` code blocks of README's "Python API" section, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def run_and_compare(code: str, shown: str, namespace: dict) -> None:
    """Execute README code in ``namespace``; what it prints must be what README shows (numbers to regress's tolerance)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    printed, expected = out.getvalue().splitlines(), shown.splitlines()
    assert [NUMBER.sub("#", line) for line in printed] == [NUMBER.sub("#", line) for line in expected]
    for got, want in zip(printed, expected):
        assert [float(x) for x in NUMBER.findall(got)] == pytest.approx([float(x) for x in NUMBER.findall(want)], abs=5e-4)


@pytest.mark.slow
def test_the_python_examples_run_and_print_what_readme_shows() -> None:
    """The pipeline example, then ``rank()`` on its DL19 candidates, which orders them as ``rerank`` does."""
    example, ranking, _ = readme_blocks("python")
    shown, ranked = readme_blocks("text")
    namespace = {"__name__": "readme"}
    run_and_compare(example, shown, namespace)
    run_and_compare(ranking, ranked, namespace)
    bm25, hits, query = namespace["bm25"], namespace["hits"], namespace["query"]
    candidates = [rr.Candidate(c.docid, c.score, bm25.passages[c.docid]) for c in hits]
    (result,) = rr.rerank(ResRankReranker(namespace["model"]), [rr.Ranking(bm25.topics["264014"], candidates)])
    ranked_all = namespace["model"].rank(query, [c.text for c in candidates], first_stage_scores=[c.score for c in candidates])
    assert [c.docid for c in result.candidates] == [hits[r["corpus_id"]].docid for r in ranked_all]


def test_the_reranker_sketch_registers_itself() -> None:
    _, _, sketch = readme_blocks("python")
    namespace = {"rr": rr, "__name__": "readme_sketch"}
    exec(compile(sketch, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert rr.rerankers()["reverse"] is namespace["Reverse"]
    assert [o.flag for o in namespace["Reverse"].options] == ["--keep-first"]
