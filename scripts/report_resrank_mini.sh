#!/usr/bin/env bash
# The final report of a ResRank-mini model (issue 15's targets): NFCorpus test and DL19, each BM25
# top-100 reranked by the model, by its own encoder's cosine, and by BM25 (+) encoder fusions
# (RRF, min-max interpolation over a grid of BM25 weights); significance (paired t-test and
# randomization test) against the encoder's cosine rerank.
#
#   bash scripts/report_resrank_mini.sh [MODEL_DIR] [OUT_DIR] [NFCORPUS_DENSE_INDEX]
#
# The bundled model reads its shipped NFCorpus dense index; another model's is encoded into OUT_DIR.
# Test splits: run this once per model you report, never to choose between models (use dev).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLED=resrank_eval/data/models/resrank-mini
MODEL=${1:-$BUNDLED}
OUT=${2:-runs/resrank-mini-report}
if [ -z "${3:-}" ] && [ "$MODEL" = "$BUNDLED" ]; then
  INDEX=resrank_eval/data/indexes/beir-nfcorpus.resrank-mini
else
  INDEX=${3:-$OUT/nfcorpus/index}
fi
WEIGHTS="0.1,0.9 0.2,0.8 0.3,0.7 0.4,0.6 0.5,0.5"  # BM25's, the encoder's
rerank() { resrank-eval rerank --top-k 100 --batch-size 4 "$@"; }
fusions() {  # fusions BM25_RUN ENCODER_RUN PREFIX: of the top-100 both runs share, so each fused run is 100 deep
  resrank-eval fuse "$1" "$2" --method rrf --depth 100 --run-tag rrf-bm25-encoder --output "$3.rrf-bm25-encoder.txt"
  for w in $WEIGHTS; do
    resrank-eval fuse "$1" "$2" --method interpolate --weights "$w" --depth 100 --run-tag "interp-bm25-encoder-${w%%,*}" \
      --output "$3.interp-bm25-encoder-${w%%,*}.txt"
  done
}

NF=$OUT/nfcorpus
mkdir -p "$NF" "$OUT/dl19"
resrank-eval retrieve --dataset beir/nfcorpus --method bm25 --hits 1000 --output "$NF/run.beir-nfcorpus.bm25-flat.test.txt"
[ -f "$INDEX/encoder.json" ] || resrank-eval encode --dataset beir/nfcorpus --model "$MODEL" --index "$INDEX"
for reranker in encoder resrank; do
  rerank --dataset beir/nfcorpus --run "$NF/run.beir-nfcorpus.bm25-flat.test.txt" --reranker "$reranker" \
    --model "$MODEL" --dense-index "$INDEX" --run-tag "$reranker" --output "$NF/run.beir-nfcorpus.$reranker.test.txt"
done
fusions "$NF/run.beir-nfcorpus.bm25-flat.test.txt" "$NF/run.beir-nfcorpus.encoder.test.txt" "$NF/run.beir-nfcorpus"
resrank-eval report "$NF"/run.beir-nfcorpus.*.txt --dataset beir/nfcorpus \
  --baseline "$NF/run.beir-nfcorpus.encoder.test.txt" --output "$NF/report"

DL=$OUT/dl19
CAND=resrank_eval/data/candidates/dl19-bm25-top100.json.gz
resrank-eval import-candidates "$CAND" --run-tag bm25 --output "$DL/run.dl19.bm25.txt"
for reranker in encoder resrank; do
  rerank --dataset dl19 --candidates "$CAND" --reranker "$reranker" --model "$MODEL" --run-tag "$reranker" \
    --output "$DL/run.dl19.$reranker.txt"
done
fusions "$DL/run.dl19.bm25.txt" "$DL/run.dl19.encoder.txt" "$DL/run.dl19"
resrank-eval report "$DL"/run.dl19.*.txt --dataset dl19 --baseline "$DL/run.dl19.encoder.txt" --output "$DL/report"
cat "$NF/report/report.md" "$DL/report/report.md"
