#!/usr/bin/env bash
# Wall time of index + retrieve + evaluate on NFCorpus: resrank-eval vs Pyserini's own CLIs.
# Both start cold (fresh index, same JVM options, 2 threads). Usage: bash scripts/bench_bm25_vs_pyserini.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=resrank_eval/data/beir/nfcorpus
topics=qrels/topics.beir-v1.0.0-nfcorpus.test.tsv.gz
qrels=qrels/qrels.beir-v1.0.0-nfcorpus.test.txt

ours() {
  RESRANK_CACHE="$work/cache" resrank-eval index --dataset beir/nfcorpus --threads 2 >/dev/null 2>&1
  RESRANK_CACHE="$work/cache" resrank-eval retrieve --dataset beir/nfcorpus --hits 1000 --threads 2 --output "$work/ours.txt" >/dev/null 2>&1
  resrank-eval evaluate --dataset beir/nfcorpus "$work/ours.txt" 2>/dev/null
}

theirs() {
  mkdir -p "$work/collection"
  zcat "$data/corpus.jsonl.gz" > "$work/collection/corpus.jsonl"
  python scripts/pyserini_shim.py pyserini.index.lucene --collection BeirFlatCollection --input "$work/collection" \
    --index "$work/pyserini-index" --generator DefaultLuceneDocumentGenerator --threads 2 \
    --storePositions --storeDocvectors --storeRaw >/dev/null 2>&1
  python scripts/pyserini_shim.py pyserini.search.lucene --index "$work/pyserini-index" --topics "$topics" \
    --output "$work/theirs.txt" --output-format trec --batch-size 64 --threads 2 --hits 1000 --bm25 --remove-query >/dev/null 2>&1
  python scripts/pyserini_shim.py pyserini.eval.trec_eval -c -m ndcg_cut.10 -m recall.100,1000 "$qrels" "$work/theirs.txt" 2>/dev/null | grep -E "ndcg_cut_10|recall_100 |recall_1000"
}

for name in ours theirs; do
  start=$(date +%s.%N)
  $name
  end=$(date +%s.%N)
  printf '%s: %.1f s\n' "$name" "$(echo "$end - $start" | bc)"
done
