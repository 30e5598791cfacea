"""Dense first stage with the ResRank encoder: a Pyserini FAISS index that also keeps the vectors.

Index folder layout::

    index        FAISS IndexFlatIP (what Pyserini's FaissSearcher reads)
    docid        one docid per line, row order
    vectors.npy  float32 [N, D] passage vectors (memory-mapped by rerankers: never re-encoded)
    encoder.json dimension, count and a probe vector that identifies the encoder (written last)
    shards/      work in progress: one .npy + .docids per shard; a killed run resumes from them

Vectors are those the encoder returns (L2-normalised by default), so inner product is cosine.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..datasets.corpus import Document, corpus_file, iter_corpus
from ..errors import ResrankError
from ..formats.atomic import open_text
from ..logs import progress
from ..types import Candidate, Query, Run

if TYPE_CHECKING:
    from ..model import Encoder, ResRankModel

log = logging.getLogger(__name__)

FAISS_FILE = "index"
DOCID_FILE = "docid"
VECTORS_FILE = "vectors.npy"
META_FILE = "encoder.json"
SHARDS_DIR = "shards"
PROBE_TEXT = "ResRank probe: the passage vectors in this index come from this encoder."
PROBE_MIN_COSINE = 0.98  # fp32 vs bf16 encodings of one text agree to ~0.999


def build_dense_index(corpus: str | Path, encoder: Encoder, index_dir: str | Path, batch_size: int = 64,
                      shard_size: int = 10_000) -> Path:
    """Encode a BEIR corpus into ``index_dir`` (see module doc); resumes finished shards after a kill."""
    import torch

    out = Path(index_dir)
    if (out / META_FILE).is_file():
        DenseVectors(out).check_encoder(encoder)
        return out
    if batch_size < 1 or shard_size < 1:
        raise ResrankError("encode: --batch-size and --shard-size must be positive")
    shards = out / SHARDS_DIR
    shards.mkdir(parents=True, exist_ok=True)
    encoder.batch_size = batch_size
    total = _count_lines(corpus)
    log.info("encoding %d passages of %s into %s", total, corpus_file(corpus), out)
    with progress(total=total, desc="encode", unit="doc", ) as bar:
        for number, documents in enumerate(_chunks(iter_corpus(corpus), shard_size)):
            stem = shards / f"{number:05d}"
            if not stem.with_suffix(".npy").is_file():
                with torch.inference_mode():
                    vectors = encoder.encode([d.contents for d in documents]).float().cpu().numpy()
                _write_shard(stem, [d.docid for d in documents], vectors)
            bar.update(len(documents))
    _merge(out, sorted(shards.glob("*.npy")), encoder)
    return out


def _chunks(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while chunk := list(islice(documents, size)):
        yield chunk


def _count_lines(corpus: str | Path) -> int:
    with open_text(corpus_file(corpus)) as handle:
        return sum(1 for line in handle if line.strip())


def _write_shard(stem: Path, docids: list[str], vectors: np.ndarray) -> None:
    """Docids first, vectors last and renamed into place: a shard exists only once complete."""
    stem.with_suffix(".docids").write_text("\n".join(docids) + "\n", encoding="utf-8")
    partial = stem.with_suffix(".partial.npy")
    np.save(partial, vectors)
    os.replace(partial, stem.with_suffix(".npy"))


def _merge(out: Path, shard_files: list[Path], encoder: Encoder) -> None:
    import faiss
    import torch

    if not shard_files:
        raise ResrankError(f"{out}: the corpus has no documents to encode")
    docids = [d for f in shard_files for d in f.with_suffix(".docids").read_text(encoding="utf-8").splitlines()]
    matrix = np.lib.format.open_memmap(out / VECTORS_FILE, mode="w+", dtype=np.float32,
                                       shape=(len(docids), encoder.dim))
    index = faiss.IndexFlatIP(encoder.dim)
    row = 0
    for shard in progress(shard_files, desc="merge shards", unit="shard"):
        vectors = np.load(shard)
        matrix[row:row + len(vectors)] = vectors
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        row += len(vectors)
    matrix.flush()
    faiss.write_index(index, str(out / FAISS_FILE))
    (out / DOCID_FILE).write_text("\n".join(docids) + "\n", encoding="utf-8")
    with torch.inference_mode():
        probe = encoder.encode([PROBE_TEXT]).float().cpu().numpy()[0]
    meta = {"count": len(docids), "dim": encoder.dim, "probe": probe.tolist()}
    (out / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    for shard in shard_files:
        shard.unlink()
        shard.with_suffix(".docids").unlink()
    (out / SHARDS_DIR).rmdir()


class DenseVectors:
    """docid -> passage vector, memory-mapped from an index folder built by :func:`build_dense_index`."""

    def __init__(self, index_dir: str | Path) -> None:
        folder = Path(index_dir)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise ResrankError(f"{folder}: not a finished dense index (no {META_FILE}); run `resrank-eval encode`")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.folder = folder
        self.vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
        docids = (folder / DOCID_FILE).read_text(encoding="utf-8").splitlines()
        self.rows = {docid: row for row, docid in enumerate(docids)}

    def check_encoder(self, encoder: Encoder) -> None:
        """Refuse vectors from another encoder: it would silently mix two embedding spaces."""
        import torch

        if self.meta["dim"] != encoder.dim:
            raise ResrankError(f"{self.folder}: index vectors have dimension {self.meta['dim']}, the encoder {encoder.dim}")
        with torch.inference_mode():
            probe = encoder.encode([PROBE_TEXT]).float().cpu().numpy()[0]
        stored = np.asarray(self.meta["probe"], dtype=np.float32)
        cosine = float(probe @ stored / (np.linalg.norm(probe) * np.linalg.norm(stored) + 1e-12))
        if cosine < PROBE_MIN_COSINE:
            raise ResrankError(f"{self.folder}: built with a different encoder (probe cosine {cosine:.3f})")

    def get(self, docids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of those docids that the index holds."""
        return {d: np.array(self.vectors[self.rows[d]], dtype=np.float32) for d in docids if d in self.rows}


def dense_retrieve(index_dir: str | Path, encoder_model: str | Path | Encoder | ResRankModel,
                   topics: dict[str, Query], hits: int, batch_size: int = 32, threads: int = 1,
                   device: str | None = None, dtype: str | None = None) -> Run:
    """Search ``index_dir`` with Pyserini's FaissSearcher, the ResRank encoder encoding the queries."""
    from ..jvm import pyserini_module
    from ..model import Encoder, QueryEncoder, ResRankModel, load_encoder

    if hits < 1:
        raise ResrankError("dense retrieval: hits must be positive")
    if isinstance(encoder_model, ResRankModel):
        encoder = encoder_model.encoder
    elif isinstance(encoder_model, Encoder):
        encoder = encoder_model
    else:
        encoder = load_encoder(encoder_model, device, dtype, batch_size=batch_size)
    vectors = DenseVectors(index_dir)
    vectors.check_encoder(encoder)
    searcher_module = pyserini_module("pyserini.search.faiss")
    searcher = searcher_module.FaissSearcher(str(index_dir), QueryEncoder(encoder))
    qids = list(topics)
    results = searcher.batch_search([topics[q].text for q in qids], qids, k=hits, threads=threads)
    return {qid: [Candidate(r.docid, float(r.score)) for r in results[qid]] for qid in qids}
