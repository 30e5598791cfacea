"""``regress``: the pinned scores of a conditions file re-run from scratch, loud failures, mistakes at their line.

The same mechanism as ``reproduce --check`` (one source of truth: the conditions file's ``expected:``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resrank_eval.formats.candidates import read_candidates
from resrank_eval.formats.trec import write_run
from resrank_eval.reproduce import bundled_file, load_grid
from tests.helpers import DL19_CANDIDATES, assert_one_line_error, invoke

DL19_ONLY = """\
datasets:
  - name: dl19
    first_stages: {{bm25: "{candidates}"}}
conditions:
  - name: bm25
    first_stage: {{method: bm25}}
expected:
  bm25:
    dl19: {{"nDCG@10": {score}}}
"""


def test_the_bundled_offline_file_pins_the_former_regressions() -> None:
    """NFCorpus BM25 (Pyserini's 0.3218), DL19 BM25 (0.5058), DL19 MiniLM and ResRank-mini reranks."""
    expected = load_grid(bundled_file("offline")).spec.expected
    assert expected["bm25"]["beir/nfcorpus"]["nDCG@10"] == 0.3218 and expected["bm25"]["dl19"]["nDCG@10"] == 0.5058
    assert {"bm25.minilm", "bm25.resrank-mini"} <= expected.keys() and "dl19" in expected["bm25.resrank-mini"]


@pytest.mark.parametrize(("score", "exit_code", "status"), [(0.5058, 0, "OK  "), (0.6, 1, "FAIL")])
def test_rerun_scores_against_the_pin(tmp_path: Path, score: float, exit_code: int, status: str) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(DL19_ONLY.format(candidates=DL19_CANDIDATES, score=score))
    result = invoke("regress", str(pins), "--output", str(tmp_path / "runs"))
    assert result.exit_code == exit_code, result.output
    assert f"{status} bm25" in result.output and "got 0.5058" in result.output
    assert (tmp_path / "runs" / "dl19" / "run.dl19.bm25.txt").is_file()
    if exit_code:
        assert "1 regression check(s) failed" in result.output


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (DL19_ONLY.format(candidates=DL19_CANDIDATES, score="high"), ["pins.yaml:9:", "expected a number"]),
        (DL19_ONLY.format(candidates=DL19_CANDIDATES, score=0.5).replace('"nDCG@10"', '"nDCG"'), ["pins.yaml:8:", "needs a cutoff"]),
        ("conditions: [unclosed\n", ["pins.yaml:2:", "invalid YAML"]),
        ("- not a mapping\n", ["pins.yaml:", "expected a mapping"]),
    ],
)
def test_bad_file_is_one_line_error(tmp_path: Path, text: str, fragments: list[str]) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(text)
    assert_one_line_error(invoke("regress", str(pins), "--output", str(tmp_path / "runs")), *fragments)
    assert not (tmp_path / "runs").exists()


def test_unknown_condition_is_an_error(tmp_path: Path) -> None:
    pins = tmp_path / "pins.yaml"
    pins.write_text(DL19_ONLY.format(candidates=DL19_CANDIDATES, score=0.5058))
    assert_one_line_error(invoke("regress", str(pins), "--conditions", "dl20.bm25"), "no condition 'dl20.bm25'", "known: bm25")


BM25_AND_ITS_TOP5 = """\
baseline: bm25
datasets:
  - name: dl19
    first_stages: {{bm25: "{candidates}", top5: "{top5}"}}
conditions:
  - name: bm25
    first_stage: {{method: bm25}}
  - name: top5
    first_stage: {{method: imported, source: top5}}
expected:
  bm25:
    dl19: {{"nDCG@10": 0.5058}}
"""


def test_the_table_is_the_one_reproduce_prints(tmp_path: Path) -> None:
    """``regress`` tested significance with 1,000 resamples where ``reproduce`` takes 10,000: the same grid had other
    p-values (and could have other markers) under the two commands."""
    top5 = tmp_path / "top5.txt"
    write_run(top5, {qid: hits[:5] for qid, hits in read_candidates(DL19_CANDIDATES).run.items()}, "top5")
    pins = tmp_path / "pins.yaml"
    pins.write_text(BM25_AND_ITS_TOP5.format(candidates=DL19_CANDIDATES, top5=top5))
    assert invoke("regress", str(pins), "--output", str(tmp_path / "regress")).exit_code == 0
    assert invoke("reproduce", str(pins), "--check", "--overwrite", "--output", str(tmp_path / "reproduce")).exit_code == 0
    regress, reproduce = ((tmp_path / name / "table.csv").read_text().replace(str(tmp_path / name), "") for name in ("regress", "reproduce"))
    assert regress == reproduce
