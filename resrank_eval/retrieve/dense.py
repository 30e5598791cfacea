"""Dense first stage with the ResRank encoder: a Pyserini FAISS index that also keeps the vectors.

Index folder layout::

    index        FAISS IndexFlatIP (what Pyserini's FaissSearcher reads)
    docid        one docid per line, row order
    vectors.npy  float32 [N, D] passage vectors (memory-mapped by rerankers: never re-encoded)
    encoder.json dimension, count, a probe vector that identifies the encoder, and the provenance (written
                 last); after a sharded encode also the world size and each shard's passages per second
    shards/      work in progress: one .npy + .docids per chunk of ``shard_size`` passages, one marker per
                 finished shard (:mod:`..parallel`) and the provenance; a killed run resumes from them, but
                 only with the same corpus, model and settings

Vectors are those the encoder returns (L2-normalised by default), so inner product is cosine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, ResrankError
from ..formats.atomic import atomic_write
from ..formats.corpus import Document, corpus_file, iter_corpus
from ..formats.jsonl import read_json
from ..formats.text import iter_lines
from ..formats.trec import pyserini_order
from ..logs import progress
from ..parallel import WHOLE, Job, Shard
from ..provenance import Provenance, read_record, write_record
from ..types import Candidate, Query, Run

if TYPE_CHECKING:
    from ..model import Encoder, ResRankModel

log = logging.getLogger(__name__)

FAISS_FILE = "index"
DOCID_FILE = "docid"
VECTORS_FILE = "vectors.npy"
META_FILE = "encoder.json"
SHARDS_DIR = "shards"
RECORD_FILE = "provenance.json"
PROBE_TEXT = "ResRank probe: the passage vectors in this index come from this encoder."
PROBE_MIN_COSINE = 0.98  # fp32 vs bf16 encodings of one text agree to ~0.999


def encode_provenance(corpus: str | Path, model: str | Path, batch_size: int = 64, shard_size: int = 10_000,
                      device: str | None = None, dtype: str | None = None) -> Provenance:
    """What a dense index is made of: the corpus and the model (by content; a preset by name) and the encoding settings."""
    arguments = {"batch_size": batch_size, "shard_size": shard_size, "device": device, "dtype": dtype}
    return Provenance.of("encode", arguments, {"corpus": corpus_file(corpus), "model": model})


def dense_index_done(index_dir: str | Path, provenance: Provenance, overwrite: bool = False) -> bool:
    """True when ``index_dir`` is a finished index made with ``provenance``; a finished index or unfinished shards
    made otherwise are an error naming the difference. ``overwrite`` removes both (this module's files only)."""
    out, shards = Path(index_dir), Path(index_dir) / SHARDS_DIR
    if overwrite:
        for name in (META_FILE, FAISS_FILE, DOCID_FILE, VECTORS_FILE):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(shards, ignore_errors=True)
        return False
    if (out / META_FILE).is_file():
        provenance.check(check_dense_index(out).get("provenance"), out)
        return True
    if shards.is_dir() and any(shards.iterdir()):
        provenance.check(read_record(shards / RECORD_FILE), shards)
    return False


def build_dense_index(corpus: str | Path, encoder: Encoder, index_dir: str | Path, batch_size: int = 64,
                      shard_size: int = 10_000, job: Job | None = None, provenance: Provenance | None = None) -> Path | None:
    """Encode a BEIR corpus into ``index_dir`` (see module doc); resumes finished chunks after a kill.

    With a ``job`` (:func:`..parallel.sharded`) this process encodes its shard, and the job's merging
    process (rank 0 under torchrun) merges once all are done; None where nothing was merged. With
    ``provenance`` (see :func:`encode_provenance`) an existing index or unfinished chunks are reused only
    when made so; without it, a finished index is reused when its probe vector matches ``encoder``.
    """
    out = Path(index_dir)
    if provenance is not None and dense_index_done(out, provenance):
        return out
    if provenance is None and (out / META_FILE).is_file():
        DenseVectors(out).check_encoder(encoder)
        return out
    job = job or Job(WHOLE)
    encode_shard(corpus, encoder, out, job.shard, batch_size, shard_size, provenance)
    return merge_dense_index(out) if job.finish("encode") else None


def encode_shard(corpus: str | Path, encoder: Encoder, index_dir: str | Path, shard: Shard = WHOLE, batch_size: int = 64,
                 shard_size: int = 10_000, provenance: Provenance | None = None) -> Path:
    """Encode the chunks ``shard`` owns into ``index_dir/shards/``; finished chunks are kept, so a killed shard resumes.

    Chunk k holds passages k*shard_size ... (k+1)*shard_size - 1 of the corpus and is encoded in one call,
    exactly as one process encodes it. The shard's marker (``shards/<label>.json``: chunk count, encoder
    probe, throughput) is written last; :func:`merge_dense_index` needs every shard's. Returns the marker.
    """
    import torch

    if batch_size < 1 or shard_size < 1:
        raise ResrankError("encode: --batch-size and --shard-size must be positive")
    shards = Path(index_dir) / SHARDS_DIR
    shards.mkdir(parents=True, exist_ok=True)
    for stale in shards.glob("shard-*.json"):  # markers of an earlier run split another way
        if not stale.name.endswith(f"-of-{shard.num:05d}.json"):
            stale.unlink(missing_ok=True)
    if provenance is not None and not (shards / RECORD_FILE).is_file():
        write_record(shards / RECORD_FILE, provenance)
    for torn in shards.glob("*.partial.npy"):  # a chunk of this shard a kill interrupted: encoded again below
        if shard.owns(int(torn.name.split(".")[0])):
            torn.unlink(missing_ok=True)
    encoder.batch_size = batch_size
    total = _count_lines(corpus)
    chunks = -(-total // shard_size)
    owned = sum(min(shard_size, total - k * shard_size) for k in range(chunks) if shard.owns(k))
    log.info("encoding %d of %d passages of %s into %s", owned, total, corpus_file(corpus), index_dir)
    started, encoded = time.perf_counter(), 0
    with progress(total=owned, desc="encode", unit="doc") as bar:
        for number, documents in enumerate(_chunks(iter_corpus(corpus), shard_size)):
            if not shard.owns(number):
                continue
            stem = shards / f"{number:05d}"
            if not stem.with_suffix(".npy").is_file():
                with torch.inference_mode():
                    vectors = encoder.encode([d.contents for d in documents]).float().cpu().numpy()
                _write_shard(stem, [d.docid for d in documents], vectors)
                encoded += len(documents)
            bar.update(len(documents))
    seconds = time.perf_counter() - started
    with torch.inference_mode():
        probe = encoder.encode([PROBE_TEXT]).float().cpu().numpy()[0]
    marker = {"shard": shard.id, "num": shard.num, "chunks": chunks, "shard_size": shard_size, "count": total,
              "dim": encoder.dim, "probe": probe.tolist(), "passages": encoded, "seconds": round(seconds, 3)}
    with atomic_write(shards / f"{shard.label}.json") as handle:
        json.dump(marker, handle)
    return shards / f"{shard.label}.json"


def merge_dense_index(index_dir: str | Path) -> Path:
    """Merge every shard's chunks, in corpus order, into the index files; needs no model.

    With more than one shard, ``encoder.json`` also records the world size and each shard's throughput.
    """
    out = Path(index_dir)
    markers = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / SHARDS_DIR).glob("shard-*.json"))]
    if not markers:
        raise ResrankError(f"{out}: no finished shard to merge; run `resrank-eval encode` first")
    num = markers[0]["num"]
    missing = sorted(set(range(num)) - {m["shard"] for m in markers if m["num"] == num})
    if missing or len(markers) != num:
        raise ResrankError(f"{out}: shard(s) {', '.join(map(str, missing))} of {num} not finished yet")
    first = markers[0]
    for key in ("chunks", "shard_size", "count", "dim"):
        if any(m[key] != first[key] for m in markers):
            raise ResrankError(f"{out}: the shards disagree on {key}; encode every shard with the same corpus, model and --shard-size")
    for marker in markers[1:]:
        _check_probe(out, np.asarray(first["probe"], dtype=np.float32), np.asarray(marker["probe"], dtype=np.float32))
    files = [out / SHARDS_DIR / f"{k:05d}.npy" for k in range(first["chunks"])]
    absent = [f.name for f in files if not f.is_file()]
    if absent:
        raise ResrankError(f"{out}: chunk {absent[0]} is missing although every shard finished; encode again")
    meta = {"count": first["count"], "dim": first["dim"], "probe": first["probe"],
            "provenance": read_record(out / SHARDS_DIR / RECORD_FILE)}
    if num > 1:
        meta |= {"world_size": num, "ranks": [_throughput(m) for m in markers]}
    _merge(out, files, meta)
    return out


def _throughput(marker: dict) -> dict:
    seconds = marker["seconds"]
    return {"rank": marker["shard"], "passages": marker["passages"], "seconds": seconds,
            "passages_per_s": round(marker["passages"] / seconds, 3) if seconds > 0 else None}


def _chunks(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while chunk := list(islice(documents, size)):
        yield chunk


def _count_lines(corpus: str | Path) -> int:
    return sum(1 for _, line in iter_lines(corpus_file(corpus)) if line.strip())


def _write_shard(stem: Path, docids: list[str], vectors: np.ndarray) -> None:
    """Docids first, vectors last and renamed into place: a chunk exists only once complete."""
    stem.with_suffix(".docids").write_text("\n".join(docids) + "\n", encoding="utf-8")
    partial = stem.with_suffix(".partial.npy")
    np.save(partial, vectors)
    os.replace(partial, stem.with_suffix(".npy"))


def _merge(out: Path, chunk_files: list[Path], meta: dict) -> None:
    import faiss

    if not chunk_files:
        raise ResrankError(f"{out}: the corpus has no documents to encode")
    docids = [d for f in chunk_files for d in f.with_suffix(".docids").read_text(encoding="utf-8").splitlines()]
    if len(docids) != meta["count"]:
        raise ResrankError(f"{out}: the chunks hold {len(docids)} passages, the corpus {meta['count']}; encode again")
    matrix = np.lib.format.open_memmap(out / VECTORS_FILE, mode="w+", dtype=np.float32, shape=(len(docids), meta["dim"]))
    index = faiss.IndexFlatIP(meta["dim"])
    row = 0
    for chunk in progress(chunk_files, desc="merge chunks", unit="chunk"):
        vectors = np.load(chunk)
        matrix[row:row + len(vectors)] = vectors
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        row += len(vectors)
    matrix.flush()
    faiss.write_index(index, str(out / FAISS_FILE))
    (out / DOCID_FILE).write_text("\n".join(docids) + "\n", encoding="utf-8")
    (out / META_FILE).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    for leftover in (out / SHARDS_DIR).iterdir():
        leftover.unlink()
    (out / SHARDS_DIR).rmdir()


def _check_probe(folder: Path, probe: np.ndarray, stored: np.ndarray) -> None:
    """Refuse vectors from another encoder: it would silently mix two embedding spaces."""
    cosine = float(probe @ stored / (np.linalg.norm(probe) * np.linalg.norm(stored) + 1e-12))
    if cosine < PROBE_MIN_COSINE:
        raise ResrankError(f"{folder}: built with a different encoder (probe cosine {cosine:.3f})")


def check_dense_index(index_dir: str | Path, search: bool = False) -> dict:
    """The metadata of a finished dense index folder, reading no vectors; an unfinished or foreign folder is an error.

    Rerankers read only the vectors; ``search`` also requires the FAISS index (a vectors-only folder, like
    the one shipped with ResRank-mini, leaves it out to stay small)."""
    folder = Path(index_dir)
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise ResrankError(f"{folder}: not a finished dense index (no {META_FILE}); run `resrank-eval encode`")
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or not {"count", "dim", "probe"} <= meta.keys():
        raise InputError(meta_path, None, "not a dense index's metadata (needs count, dim and probe)")
    needed = (FAISS_FILE, DOCID_FILE, VECTORS_FILE) if search else (DOCID_FILE, VECTORS_FILE)
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise ResrankError(f"{folder}: incomplete dense index (no {missing[0]})")
    return meta


def cached_dense_index(corpus: str | Path, name: str, model: str | Path, dtype: str | None = None, batch_size: int = 64,
                       build: bool = True) -> Path:
    """``corpus`` encoded once by ``model``'s encoder into the cache, under the digest of the encoding's provenance.

    What the demo and the reproduction grid share: every dense retrieval and every rerank of that corpus
    with that encoder reuses these vectors, and a changed corpus, model or resrank-eval never finds a
    stale index; an interrupted build resumes. ``build=False`` only says where they are (or would be).
    """
    from ..paths import cache_dir

    provenance = encode_provenance(corpus, model, batch_size=batch_size, dtype=dtype)
    target = cache_dir() / "dense" / f"{name.replace('/', '-')}-{provenance.digest()}"
    if build and not dense_index_done(target, provenance):
        from ..model import load_encoder  # torch: only when there is something to encode

        build_dense_index(corpus, load_encoder(model, dtype=dtype), target, batch_size=batch_size, provenance=provenance)
    return target


class DenseVectors:
    """docid -> passage vector, memory-mapped from an index folder built by :func:`build_dense_index`."""

    def __init__(self, index_dir: str | Path) -> None:
        folder = Path(index_dir)
        self.meta = check_dense_index(folder)
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
        _check_probe(self.folder, probe, np.asarray(self.meta["probe"], dtype=np.float32))

    def get(self, docids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of those docids that the index holds."""
        return {d: np.array(self.vectors[self.rows[d]], dtype=np.float32) for d in docids if d in self.rows}


def dense_retrieve(index_dir: str | Path, encoder_model: str | Path | Encoder | ResRankModel,
                   topics: dict[str, Query], hits: int, batch_size: int = 32, threads: int = 1,
                   device: str | None = None, dtype: str | None = None, shard: Shard = WHOLE) -> Run:
    """Search ``index_dir`` with Pyserini's FaissSearcher, the ResRank encoder encoding the queries.

    Queries go in blocks of ``batch_size`` (topic order), each encoded and searched in one call: the
    unit a ``shard`` owns, so the shards' runs together are the one-process run exactly. Hits come in
    :func:`~resrank_eval.formats.trec.pyserini_order` (tied scores as Pyserini's run evaluates them).
    """
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
    qids = shard.take(list(topics), batch_size)
    run: Run = {}
    with progress(total=len(qids), desc="dense search", unit="query") as bar:
        for start in range(0, len(qids), batch_size):
            block = qids[start:start + batch_size]
            results = searcher.batch_search([topics[q].text for q in block], block, k=hits, threads=threads)
            run.update({qid: pyserini_order(Candidate(r.docid, float(r.score)) for r in results[qid]) for qid in block})
            bar.update(len(block))
    broken = next((qid for qid, hits in run.items() if not all(math.isfinite(c.score) for c in hits)), None)
    if broken is not None:
        raise ResrankError(f"{index_dir}: dense search gave a non-finite score for query {broken!r} (NaN vectors?)")
    return run
