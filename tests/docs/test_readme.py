"""README's and the Python guide's examples, executed: each must run and print what its page shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import resrank_eval as rr
from resrank_eval.rerank.resrank import ResRankReranker
from tests.helpers import REPO

NUMBER = re.compile(r"\d+\.\d+")
README, PYTHON_GUIDE = REPO / "README.md", REPO / "docs" / "guides" / "python.md"


def code_blocks(path: Path, language: str, section: str | None = None) -> list[str]:
    """The ``language`` code blocks of a Markdown file (of its ``section`` only, when given), in order."""
    text = path.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def run_and_compare(code: str, shown: str, namespace: dict, source: str) -> None:
    """Execute documented code in ``namespace``; what it prints must be what the page shows (numbers to regress's tolerance)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, source, "exec"), namespace)  # noqa: S102 - our own documentation
    printed, expected = out.getvalue().splitlines(), shown.splitlines()
    assert [NUMBER.sub("#", line) for line in printed] == [NUMBER.sub("#", line) for line in expected]
    for got, want in zip(printed, expected):
        assert [float(x) for x in NUMBER.findall(got)] == pytest.approx([float(x) for x in NUMBER.findall(want)], abs=5e-4)


def test_readme_rank_example_prints_what_it_shows_and_orders_as_rerank_does() -> None:
    """README's one Python example (``from_pretrained`` + ``rank``), then ``rerank`` on the same candidates: same order."""
    (example,), (shown,) = code_blocks(README, "python", "Python API"), code_blocks(README, "text", "Python API")
    namespace = {"__name__": "readme"}
    run_and_compare(example, shown, namespace, "README.md")
    bm25, hits, query, model = namespace["bm25"], namespace["hits"], namespace["query"], namespace["model"]
    candidates = [rr.Candidate(c.docid, c.score, bm25.passages[c.docid]) for c in hits]
    (result,) = rr.rerank(ResRankReranker(model), [rr.Ranking(bm25.topics["264014"], candidates)])
    ranked_all = model.rank(query, [c.text for c in candidates], first_stage_scores=[c.score for c in candidates])
    assert [c.docid for c in result.candidates] == [hits[r["corpus_id"]].docid for r in ranked_all]


@pytest.mark.slow
def test_python_guide_pipeline_prints_what_it_shows() -> None:
    """The Python guide's pipeline: DL19 candidates reranked by ResRank-mini, evaluated, costs summarised."""
    pipeline, _ = code_blocks(PYTHON_GUIDE, "python")
    (shown,) = code_blocks(PYTHON_GUIDE, "text")
    run_and_compare(pipeline, shown, {"__name__": "python_guide"}, str(PYTHON_GUIDE))


def test_python_guide_reranker_sketch_registers_itself() -> None:
    _, sketch = code_blocks(PYTHON_GUIDE, "python")
    namespace = {"rr": rr, "__name__": "python_guide_sketch"}
    exec(compile(sketch, str(PYTHON_GUIDE), "exec"), namespace)  # noqa: S102 - our own documentation
    assert rr.rerankers()["reverse"] is namespace["Reverse"]
    assert [o.flag for o in namespace["Reverse"].options] == ["--keep-first"]


def test_readme_is_short() -> None:
    """README says what the project is, the two commands and one example; everything else lives in the docs site."""
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 150
