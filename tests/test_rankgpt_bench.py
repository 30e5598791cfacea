"""The side-by-side benchmark in its CPU smoke form: all three rerankers timed on one tiny shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def test_side_by_side_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_side_by_side.py"), "--smoke", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "speed-ups:" in done.stdout
    result = json.loads(out.read_text())
    assert set(result["ms_per_query"]) == {"rankgpt", "first", "resrank (cached)", "resrank (online encode)"}
    assert all(ms > 0 for ms in result["ms_per_query"].values())
    (rankgpt,) = result["generative_stats"]["rankgpt"]
    assert rankgpt["generated_tokens"] == 4  # forced answer length, one window of 20
    (first,) = result["generative_stats"]["first"]
    assert first["generated_tokens"] == first["forward_passes"] == 1
