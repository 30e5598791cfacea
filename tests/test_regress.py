"""``regress``: pinned expectations re-run for real, loud failures, and bad regression files at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from resrank_eval.evaluate.regress import DEFAULT_FILE, load_regressions

from .test_cli import assert_one_line_error, invoke

DL19_ENTRY = """\
- name: dl19.bm25
  dataset: dl19
  command: resrank-eval import-candidates {{data}}/candidates/dl19-bm25-top100.json.gz --output {{output}}
  expected: {{"nDCG@10": {score}}}
"""


def test_bundled_file_is_valid_and_names_are_unique() -> None:
    regressions = load_regressions(DEFAULT_FILE)
    names = [r.name for r in regressions]
    assert len(names) == len(set(names)) >= 4
    assert {"beir-nfcorpus.bm25-flat", "dl19.resrank-mini-rerank"} <= set(names)


@pytest.mark.parametrize(("score", "exit_code", "status"), [(0.5058, 0, "OK  "), (0.6, 1, "FAIL")])
def test_rerun_scores_against_the_pin(tmp_path: Path, score: float, exit_code: int, status: str) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(DL19_ENTRY.format(score=score))
    result = invoke("regress", "--file", str(pins), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == exit_code, result.output
    assert f"{status} dl19.bm25" in result.output and "got 0.5058" in result.output
    if exit_code:
        assert "1 regression check(s) failed" in result.output


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (DL19_ENTRY.format(score=0.5) + "- name: broken\n  dataset: dl19\n", ["pins.yaml:5:", "entry 2: needs name"]),
        (DL19_ENTRY.format(score=0.5) + "- name: nan\n  dataset: dl19\n  command: x\n  expected: {nDCG@10: high}\n", ["pins.yaml:5:", "entry 2"]),
        ("- name: [unclosed\n", ["pins.yaml:2:", "invalid YAML"]),
        ("name: not-a-list\n", ["pins.yaml:", "expected a YAML list"]),
    ],
)
def test_bad_regression_file_is_one_line_error(tmp_path: Path, text: str, fragments: list[str]) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(text)
    assert_one_line_error(invoke("regress", "--file", str(pins), "--runs-dir", str(tmp_path / "runs")), *fragments)
    assert not (tmp_path / "runs").exists()


def test_unknown_only_name_is_an_error(tmp_path: Path) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(DL19_ENTRY.format(score=0.5058))
    assert_one_line_error(invoke("regress", "--file", str(pins), "--only", "dl20.bm25"), "no regression named 'dl20.bm25'", "known: dl19.bm25")
