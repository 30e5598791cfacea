#!/usr/bin/env bash
# 1 process vs 2 (torchrun, gloo on a CPU) on the same data; prints each wall time and checks that the
# outputs are identical: NFCorpus encoded with the mini preset's MiniLM (chunks of 500 passages), dense
# retrieval of its 323 test queries, and the bundled ResRank-mini reranking the DL19 BM25 top-100 (also
# by one process with torchrun's 1 thread per process: thread counts can change float rounding).
#
#   bash scripts/check_sharding.sh [WORK_DIR]      (default: a new temporary folder)
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK" && cd "$WORK" || exit 1
export HF_HUB_DISABLE_PROGRESS_BARS=1
timed() {  # NAME COMMAND...: run, log to NAME.log, print the wall time
  local name=$1 start
  shift
  start=$(date +%s.%N)
  "$@" > "$name.log" 2>&1
  echo "$name: exit $? in $(echo "$(date +%s.%N) - $start" | bc) s"
}
ENCODE="--dataset beir/nfcorpus --model mini --shard-size 500 --batch-size 32"
timed encode-1 resrank-eval encode $ENCODE --index idx1
timed encode-2 torchrun --standalone --nproc-per-node 2 -m resrank_eval encode $ENCODE --index idx2
DENSE="--dataset beir/nfcorpus --method dense --model mini --index idx1 --hits 1000 --batch-size 64"
timed dense-1 resrank-eval retrieve $DENSE --output dense1.txt
timed dense-2 torchrun --standalone --nproc-per-node 2 -m resrank_eval retrieve $DENSE --output dense2.txt
RERANK="--dataset dl19 --candidates $REPO/resrank_eval/data/candidates/dl19-bm25-top100.json.gz --reranker resrank
  --model $REPO/resrank_eval/data/models/resrank-mini --top-k 100 --batch-size 4"
timed rerank-1 resrank-eval rerank $RERANK --output rerank1.txt
OMP_NUM_THREADS=1 timed rerank-1-thread resrank-eval rerank $RERANK --output rerank1t.txt  # torchrun's setting per process
timed rerank-2 torchrun --standalone --nproc-per-node 2 -m resrank_eval rerank $RERANK --output rerank2.txt
for pair in "idx1/index idx2/index" "idx1/docid idx2/docid" "idx1/vectors.npy idx2/vectors.npy" "dense1.txt dense2.txt" \
            "rerank1t.txt rerank2.txt" "rerank1.txt rerank2.txt"; do
  cmp -s $pair && echo "identical: $pair" || echo "DIFFERENT: $pair"
done
python -c "import json; print('per-rank throughput:', json.load(open('rerank2.txt.summary.json'))['ranks'])"
