"""A published report is what the command its page gives prints: run as written, it makes the same table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO, invoke

MEASUREMENTS = REPO / "docs" / "measurements.md"
ABLATIONS_REPORT = REPO / "runs" / "nfcorpus" / "ablations" / "report" / "report.md"


def first_table(markdown: str) -> list[list[str]]:
    """The first Markdown table's rows, cells stripped; the ↑/↓ direction markers dropped (reports made before them
    carry only † and ‡)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return [[cell.strip().replace("↑", "").replace("↓", "") for cell in row.strip("|").split("|")]
            for row in lines[start:end] if not set(row) <= set("|:- ")]


def test_the_ablation_report_is_what_its_documented_command_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/measurements.md gave the ablations' report command without the BM25 run, whose row the published report
    has: run as written it printed one row fewer."""
    command = next(" ".join(span.split()) for span in re.findall(r"`([^`]+)`", MEASUREMENTS.read_text(encoding="utf-8"))
                   if span.startswith("resrank-eval report runs/nfcorpus/ablations"))
    args = command.removeprefix("resrank-eval ").replace("--output DIR", f"--output {tmp_path}").split()
    monkeypatch.chdir(REPO)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert first_table((tmp_path / "report.md").read_text(encoding="utf-8")) == first_table(ABLATIONS_REPORT.read_text(encoding="utf-8"))
