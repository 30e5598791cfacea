"""Dataset names become file and folder names (``beir/nfcorpus`` -> ``beir-nfcorpus``): only safe ones are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.datasets import get_dataset
from resrank_eval.errors import ResrankError
from tests.helpers import CRANFIELD_BEIR

UNSAFE = ["../evil", "..", ".", "", ".hidden", "beir/..", "beir/.x", "beir//x", "x/", "/x", "a\\b", "a\0b", "a\nb"]


def one_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.startswith("Error: ") and all(f in result.stderr for f in fragments), result.stderr
    return result.stderr


@pytest.mark.parametrize("name", UNSAFE)
def test_a_dataset_name_that_is_not_one_safe_file_name_per_part_is_refused(name: str) -> None:
    """``../evil`` was silently renamed ``..-evil`` (run files, the leaderboard's folders); now each '/'-separated part must
    be a file name of its own, not empty and not starting with '.'."""
    with pytest.raises(ResrankError, match="^dataset name .* cannot be part of a file name") as refused:
        get_dataset(name, CRANFIELD_BEIR)
    assert repr(name) in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("name", ["cranfield", "beir/cranfield", "my.set", "irds:beir/x", "a-b_c"])
def test_safe_names_are_kept(name: str) -> None:
    assert get_dataset(name, CRANFIELD_BEIR).slug == name.replace("/", "-")


def test_unsafe_names_are_refused_on_the_command_line_and_in_a_conditions_file(tmp_path: Path) -> None:
    retrieve = CliRunner().invoke(main, ["retrieve", "--dataset", "../evil", "--corpus", str(CRANFIELD_BEIR), "--output",
                                         str(tmp_path / "run.txt")])
    one_error(retrieve, "dataset name '../evil'")
    conditions = tmp_path / "grid.yaml"
    conditions.write_text(f"output: {tmp_path / 'board'}\ndatasets:\n  - name: ../evil\n    corpus: {CRANFIELD_BEIR}\n"
                          "conditions:\n  - name: bm25\n    first_stage: {method: bm25}\n")
    one_error(CliRunner().invoke(main, ["reproduce", str(conditions), "--dry-run"]), "dataset name '../evil'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]


def test_a_split_without_qrels_or_topics_is_named() -> None:
    """``--dataset dl19 --split dev`` said "dataset 'dl19' has no qrels", as if DL19 had none."""
    dev = get_dataset("dl19", split="dev")
    for read, what in ((dev.qrels, "qrels"), (dev.topics, "topics")):
        with pytest.raises(ResrankError, match=rf"^dataset 'dl19' has no {what} for split 'dev': pass {what} \(a file\) or corpus \(a local BEIR folder\)$"):
            read()
