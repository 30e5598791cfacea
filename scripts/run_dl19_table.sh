#!/usr/bin/env bash
# DL19 (BM25 top-100 candidates, bundled): BM25, MiniLM encoder-only, ResRank-mini's encoder alone,
# ResRank-mini, and RankGPT-style SmolLM2-135M; then the effectiveness + efficiency report with
# significance against BM25 and the nDCG@10-vs-latency plot.
#
#   bash scripts/run_dl19_table.sh [MODEL_DIR] [OUT_DIR] [RANKGPT_TOP_K]
#
# RankGPT-style reranking costs ~2,300 prompt tokens per 20-passage window and the top-100 protocol
# needs 9 windows per query: on 2 CPU cores that row dominates the script's time (see README).
# Pass RANKGPT_TOP_K=20 for one window per query.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-resrank_eval/data/models/resrank-mini}
OUT=${2:-runs/dl19}
RANKGPT_TOP_K=${3:-100}
CAND=resrank_eval/data/candidates/dl19-bm25-top100.json.gz
mkdir -p "$OUT"
resrank-eval import-candidates "$CAND" --run-tag bm25 --output "$OUT/run.dl19.bm25.txt"
rerank() { resrank-eval rerank --dataset dl19 --candidates "$CAND" --top-k 100 --batch-size 4 "$@"; }
rerank --reranker encoder --model mini --run-tag minilm --output "$OUT/run.dl19.minilm.txt"
rerank --reranker encoder --model "$MODEL" --run-tag resrank-mini-encoder --output "$OUT/run.dl19.resrank-mini-encoder.txt"
rerank --reranker resrank --model "$MODEL" --run-tag resrank-mini --output "$OUT/run.dl19.resrank-mini.txt"
TAG=rankgpt-smollm2-top$RANKGPT_TOP_K
resrank-eval rerank --dataset dl19 --candidates "$CAND" --reranker rankgpt --model smollm2 --batch-size 4 \
  --top-k "$RANKGPT_TOP_K" --run-tag "$TAG" --output "$OUT/run.dl19.$TAG.txt"
resrank-eval report "$OUT"/run.dl19.*.txt --dataset dl19 --baseline "$OUT/run.dl19.bm25.txt" --output "$OUT/report"
cat "$OUT/report/report.md"
