"""``validate``: each TREC submission rule, broken once, is reported at its line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from resrank_eval.cli import main
from resrank_eval.errors import InputError
from resrank_eval.formats.trec import read_run
from resrank_eval.report import validate_run

GOOD = """\
q1 Q0 d1 1 3.0 tag
q1 Q0 d2 2 2.5 tag
q1 Q0 d3 3 -1 tag
q2 Q0 d1 1 9.0 tag
q2 Q0 d9 2 8.0 tag
"""


def run_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.txt"
    path.write_text(text)
    return path


def test_a_valid_run_passes(tmp_path: Path) -> None:
    summary = validate_run(run_file(tmp_path, GOOD + "\n"), max_hits=3)
    assert (summary.queries, summary.lines, summary.tag) == (2, 5, "tag")


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (2, "q1 Q0 d2 2 2.5", "expected 6 columns"),
        (2, "q1 X d2 2 2.5 tag", "second column must be 'Q0'"),
        (2, "q1 Q0 d2 two 2.5 tag", "rank 'two' is not an integer"),
        (2, "q1 Q0 d2 0 2.5 tag", "rank 0 is not a positive integer"),
        (2, "q1 Q0 d2 2 high tag", 'score "high" is not a number'),
        (2, "q1 Q0 d2 2 nan tag", "is not finite"),
        (2, "q1 Q0 d2 2 -1e39 tag", "past a 32-bit float's range"),  # trec_eval's -inf
        (2, "q1 Q0 d1 2 2.5 tag", "duplicate docid 'd1' for query 'q1'"),
        (2, "q1 Q0 d2 2 3.0 tag", "does not strictly decrease"),
        (2, "q1 Q0 d2 2 4.0 tag", "does not strictly decrease"),
        (2, "q1 Q0 d2 3 2.5 tag", "rank 3 for query 'q1' should be 2"),
        (4, "q2 Q0 d1 2 9.0 tag", "rank 2 for query 'q2' should be 1"),
        (5, "q2 Q0 d9 2 8.0 other", "run tag 'other' differs from 'tag'"),
        (5, "q1 Q0 d8 1 8.0 tag", "query 'q1' appears again after other queries"),
    ],
)
def test_each_rule_names_the_offending_line(tmp_path: Path, line: int, replacement: str, message: str) -> None:
    lines = GOOD.splitlines()
    lines[line - 1] = replacement
    path = run_file(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message) as error:
        validate_run(path)
    assert str(error.value).startswith(f"{path}:{line}: ")


def test_too_many_hits(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"run.txt:3: query 'q1' has more than 2 hits"):
        validate_run(run_file(tmp_path, GOOD), max_hits=2)


def test_unknown_query_of_a_dataset(tmp_path: Path) -> None:
    path = run_file(tmp_path, "19335 Q0 d1 1 2.0 t\n42 Q0 d1 1 2.0 t\n")
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(path), "--dataset", "dl19"])
    assert result.exit_code == 2
    assert f"Error: {path}:2: unknown query '42' (not a topic of the dataset)" in result.output


def test_empty_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty run file"):
        validate_run(run_file(tmp_path, "\n"))


def test_cli_ok_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(run_file(tmp_path, GOOD)), "--max-hits", "3"])
    assert result.exit_code == 0
    assert "OK:" in result.output and "2 queries, 5 lines, tag tag" in result.output


@pytest.mark.parametrize("scores", [("1.00000001", "1.0"), ("100000.001", "100000.0")])
def test_scores_that_tie_as_trec_eval_holds_them_do_not_strictly_decrease(tmp_path: Path, scores: tuple[str, str]) -> None:
    """trec_eval holds scores as 32-bit floats, where these two are one number: it scores d2 first (a tie goes by docid,
    descending), so a run that ranks d1 first is not evaluated in its rank order. validate said OK (exit 0)."""
    path = run_file(tmp_path, f"q1 Q0 d1 1 {scores[0]} tag\nq1 Q0 d2 2 {scores[1]} tag\n")
    assert [c.docid for c in read_run(path)["q1"]] == ["d2", "d1"]
    with pytest.raises(InputError, match="does not strictly decrease") as error:
        validate_run(path)
    assert str(error.value).startswith(f"{path}:2: ")
