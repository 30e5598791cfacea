"""Dense first stage with the ResRank encoder: a Pyserini FAISS index that also keeps the vectors.

Index folder layout::

    index           FAISS IndexFlatIP (what Pyserini's FaissSearcher reads)
    docid           one docid per line, row order
    vectors.npy     float32 [N, D] passage vectors (memory-mapped by rerankers: never re-encoded)
    encoder.json    dimension, count and a probe vector that identifies the encoder; after a sharded
                    encode also the world size and each shard's passages per second
    provenance.json the job record (:mod:`..jobs`): what made the index and every file's size and
                    SHA-256, checked whenever the index is read (a zeroed vector file or a shifted docid
                    list is refused, not searched)
    shards/         work in progress: one .npy + .docids per chunk of ``shard_size`` passages and one
                    results log per shard (:mod:`..parallel`); a killed encode resumes from them

Vectors are those the encoder returns (L2-normalised by default), so inner product is cosine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, ResrankError, check_count, first_line
from ..formats.atomic import atomic_write
from ..formats.corpus import Document, corpus_file, iter_corpus
from ..formats.jsonl import read_json
from ..formats.results_log import ResultsLog
from ..formats.text import iter_lines
from ..formats.trec import pyserini_order
from ..jobs import Merge, Outputs, ShardedStep, finished_shards, read_record, units, verify
from ..logs import progress
from ..parallel import Shard, computing_on, intra_op_threads
from ..paths import cache_dir, data_dir
from ..provenance import RECORD_NAME, Provenance, content_fingerprint, file_digest, fingerprint
from ..types import Candidate, Query

if TYPE_CHECKING:
    from ..model import Encoder

log = logging.getLogger(__name__)

FAISS_FILE = "index"
DOCID_FILE = "docid"
VECTORS_FILE = "vectors.npy"
META_FILE = "encoder.json"
SHARDS_DIR = "shards"
PROBE_TEXT = "ResRank probe: the passage vectors in this index come from this encoder."
PROBE_MIN_COSINE = 0.98  # fp32 vs bf16 encodings of one text agree to ~0.999
ENCODE_LOG = "encode"  # the shards' logs: SHARDS_DIR/encode.shard-0000i-of-0000n.jsonl
REMAKE = "encode it again (resrank-eval encode ... --overwrite)"
OWN_FOLDER = "encode the corpus into a folder of your own (resrank-eval encode --dataset ... --model ... --index DIR)"


def index_outputs(index_dir: str | Path, search: bool = True) -> Outputs:
    """A dense index's files and its record; without ``search``, the files rerankers read (no FAISS index)."""
    return Outputs.folder(index_dir, *([FAISS_FILE] if search else []), DOCID_FILE, VECTORS_FILE, META_FILE)


def encode_step(corpus: str | Path, model: str | Path | Encoder, index_dir: str | Path, batch_size: int = 64,
                shard_size: int = 10_000, device: str | None = None, dtype: str | None = None,
                threads: int | None = None) -> ShardedStep[Path]:
    """Encode a BEIR corpus into ``index_dir`` (see the module doc) with ``model``'s encoder (a ResRank folder or preset,
    loaded only when there is something to encode; or an :class:`~resrank_eval.model.Encoder`, identified by its probe).

    Chunk k holds passages k*shard_size ... (k+1)*shard_size - 1 and is encoded in one call, exactly as one process
    encodes it; each finished chunk is logged with its files' digests, so a killed encode resumes from them.
    """
    check_count(batch_size, "batch_size")
    check_count(shard_size, "shard_size")
    given = None if isinstance(model, (str, Path)) else model
    provenance = encode_provenance(corpus, model, batch_size, shard_size, device, dtype, threads)
    shards = Path(index_dir) / SHARDS_DIR

    def work(results: ResultsLog, shard: Shard) -> dict[str, Any]:
        from ..model import load_encoder

        encoder = given or load_encoder(model, device=device, dtype=dtype, batch_size=batch_size)
        encoder.batch_size = batch_size
        with computing_on(provenance.arguments["threads"]):
            return _encode_chunks(corpus, encoder, shards, shard, shard_size, results)

    return ShardedStep(provenance, work, index_merge(index_dir))


def encode_provenance(corpus: str | Path, model: str | Path | Encoder, batch_size: int = 64, shard_size: int = 10_000,
                      device: str | None = None, dtype: str | None = None, threads: int | None = None) -> Provenance:
    """What a dense index is made of: the corpus and the model (by content; a preset by name, an encoder in memory by its
    probe vector), the encoding settings and torch's intra-op threads (default: what they are now). The corpus's path is
    recorded absolute: :meth:`DenseVectors.check_texts` reads it from wherever a rerank runs."""
    threads = intra_op_threads() if threads is None else threads
    identity = {"model": model} if isinstance(model, (str, Path)) else {"encoder": content_fingerprint(_probe(model).tolist())}
    return Provenance.of("encode", {"batch_size": batch_size, "shard_size": shard_size, "device": device, "dtype": dtype,
                                    "threads": threads}, {"corpus": corpus_file(corpus).absolute(), **identity})


def index_merge(index_dir: str | Path) -> Merge[Path]:
    """How the logs and chunks every shard of an encode completed become the index files; needs no model
    (:class:`~resrank_eval.jobs.Merge`: what lies there is kept or refused as a step keeps or refuses it)."""
    shards = Path(index_dir) / SHARDS_DIR
    return Merge(shards / ENCODE_LOG, index_outputs(index_dir), partial(_publish, Path(index_dir)), shards)


def _encode_chunks(corpus: str | Path, encoder: Encoder, shards: Path, shard: Shard, shard_size: int,
                   results: ResultsLog) -> dict[str, Any]:
    """Encode the chunks ``shard`` owns that its log lacks; the end record: counts, the encoder's probe, the throughput."""
    import torch

    shards.mkdir(parents=True, exist_ok=True)
    done = {int(unit["position"]): unit for unit in results.units}
    for unit in done.values():
        _check_chunk(shards, unit)
    total = sum(1 for _, line in iter_lines(corpus_file(corpus)) if line.strip())
    chunks = -(-total // shard_size)
    owned = sum(min(shard_size, total - k * shard_size) for k in range(chunks) if shard.owns(k))
    log.info("encoding %d of %d passages of %s into %s", owned, total, corpus_file(corpus), shards.parent)
    started, encoded = time.perf_counter(), 0
    with progress(total=owned, desc="encode", unit="doc") as bar:
        for number, documents in enumerate(_chunks(iter_corpus(corpus), shard_size)):
            if not shard.owns(number):
                continue
            if number not in done:
                with torch.inference_mode():
                    vectors = encoder.encode([d.contents for d in documents]).float().cpu().numpy()
                results.add({"position": number, "files": _write_chunk(shards / f"{number:05d}", [d.docid for d in documents], vectors)})
                encoded += len(documents)
            bar.update(len(documents))
    seconds = time.perf_counter() - started
    return {"count": total, "dim": encoder.dim, "probe": _probe(encoder).tolist(), "passages": encoded, "seconds": round(seconds, 3)}


def _publish(out: Path, logs: list[ResultsLog]) -> Path:
    """The index files from every shard's chunks, in corpus order (with more than one shard, ``encoder.json`` also records
    the world size and each shard's throughput)."""
    import faiss

    ends = [results.end or {} for results in logs]
    first = ends[0]  # the shards agree on the rest: they share one provenance (the corpus and model by content)
    chunks = units(logs)  # every chunk once (a chunk short shows in the passage count below)
    if not chunks:
        raise ResrankError(f"{out}: the corpus has no documents to encode")
    for unit in chunks:
        _check_chunk(out / SHARDS_DIR, unit)
    stems = [out / SHARDS_DIR / f"{int(unit['position']):05d}" for unit in chunks]
    docids = [d for stem in stems for d in stem.with_suffix(".docids").read_text(encoding="utf-8").splitlines()]
    if len(docids) != first["count"]:
        raise ResrankError(f"{out}: the chunks hold {len(docids)} passages, the corpus {first['count']}; encode again")
    index = faiss.IndexFlatIP(first["dim"])
    with atomic_write(out / VECTORS_FILE, "wb") as handle:  # chunk by chunk: the corpus's vectors need not fit in memory twice
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (len(docids), first["dim"])}
        np.lib.format.write_array_header_1_0(handle, header)
        for stem in progress(stems, desc="merge chunks", unit="chunk"):
            vectors = np.ascontiguousarray(np.load(stem.with_suffix(".npy")), dtype=np.float32)
            handle.write(vectors.tobytes())
            index.add(vectors)
        if index.ntotal != len(docids):
            raise ResrankError(f"{out}: the chunks hold {index.ntotal} vectors for {len(docids)} passages; encode again")
    faiss.write_index(index, str(out / f".{FAISS_FILE}.tmp"))
    os.replace(out / f".{FAISS_FILE}.tmp", out / FAISS_FILE)
    with atomic_write(out / DOCID_FILE) as handle:
        handle.write("\n".join(docids) + "\n")
    meta = {"count": first["count"], "dim": first["dim"], "probe": first["probe"]}
    if len(logs) > 1:
        meta |= {"world_size": len(logs), "ranks": [
            {"rank": results.header["shard"], "passages": end["passages"], "seconds": end["seconds"],
             "passages_per_s": round(end["passages"] / end["seconds"], 3) if end["seconds"] > 0 else None}
            for results, end in zip(logs, ends)]}
    with atomic_write(out / META_FILE) as handle:
        handle.write(json.dumps(meta) + "\n")
    return out


def _chunks(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while chunk := list(islice(documents, size)):
        yield chunk


def _write_chunk(stem: Path, docids: list[str], vectors: np.ndarray) -> dict[str, str]:
    """A chunk's docids and vectors and their digests, for the log (a chunk the log lacks is never read: no temp files)."""
    stem.with_suffix(".docids").write_text("\n".join(docids) + "\n", encoding="utf-8")
    np.save(stem.with_suffix(".npy"), vectors)
    return {path.name: file_digest(path) for path in (stem.with_suffix(".docids"), stem.with_suffix(".npy"))}


def _check_chunk(shards: Path, unit: dict[str, Any]) -> None:
    """A logged chunk's files are there, as the log recorded them."""
    for name, digest in unit["files"].items():
        path = shards / name
        if not path.is_file() or file_digest(path) != digest:
            raise ResrankError(f"{path}: {'missing' if not path.is_file() else 'changed after it was written'}; "
                               f"encode again with `overwrite`")


def _probe(encoder: Encoder) -> np.ndarray:
    """The encoder's vector of :data:`PROBE_TEXT`: what identifies the encoder an index was built with."""
    import torch

    with torch.inference_mode():
        return encoder.encode([PROBE_TEXT]).float().cpu().numpy()[0]


def check_dense_index(index_dir: str | Path, search: bool = False) -> dict:
    """The metadata of a finished dense index folder, every file checked against its record (size and SHA-256: an edited
    vector file or docid list is refused); an unfinished or foreign folder is an error.

    Rerankers read only the vectors; ``search`` also requires the FAISS index (a vectors-only folder, like
    the one shipped with ResRank-mini, leaves it out to stay small)."""
    folder = Path(index_dir)
    if not folder.is_dir():  # before its record is looked for, so a mistyped path is not "encode it again"
        raise ResrankError(f"{folder}: {'not a directory' if folder.exists() else 'no such directory'}")
    record = read_record(folder / RECORD_NAME)
    if record is not None and record.get("command") == "index":  # its files verify; "vectors only" would misname it
        raise ResrankError(f"{folder}: a Lucene index (made by resrank-eval index), not a dense one; make one with resrank-eval encode")
    remedy = _remedy(folder)
    verify(index_outputs(folder, search=False), remedy, missing_ok=False)
    if search and FAISS_FILE not in record["outputs"]:  # a vectors-only folder's (one put there later is no part of it)
        raise ResrankError(f"{folder}: vectors only (what rerankers read), no FAISS index to search; {OWN_FOLDER}")
    meta_path = folder / META_FILE
    meta = read_json(meta_path)
    if not isinstance(meta, dict) or not {"count", "dim", "probe"} <= meta.keys():
        raise InputError(meta_path, None, "not a dense index's metadata (needs count, dim and probe)")
    return meta


def _remedy(folder: Path) -> str:
    """How to make a bad index right: merge the shards an encode left there (encoding again would throw their work away),
    else encode it again in place, but never into the package's own data (the bundled index)."""
    if folder.resolve().is_relative_to(data_dir().resolve()):
        return f"it ships with resrank-eval: install it again, or {OWN_FOLDER}"
    if finished_shards(folder / SHARDS_DIR / ENCODE_LOG):
        return f"its shards are not merged yet: resrank-eval merge --index {folder}"
    return REMAKE


def check_passages(index_dir: str | Path, source: Mapping[str, str | Path], docids: Collection[str],
                   texts: Callable[[Collection[str]], Mapping[str, str]]) -> None:
    """Refuse ``index_dir``'s vectors for the passages a rerank step reads, before its model loads: passages from a corpus
    (``source["corpus"]``) must come from the very file the index was encoded from (by its record's fingerprint); from
    elsewhere (``texts`` fetches those of ``docids``), they must be the texts it encoded (:meth:`DenseVectors.check_texts`)."""
    folder = Path(index_dir)
    if "corpus" not in source:
        store = DenseVectors(folder)
        held = [d for d in docids if d in store.rows]
        return store.check_texts(texts(held) if held else {}, ", ".join(map(str, source.values())) or "the passages given")
    encoded, where = _encoded_corpus(folder)
    if (now := fingerprint(given := corpus_file(source["corpus"]))) != encoded:
        raise ResrankError(f"{folder}: encoded from the corpus {where} ({encoded[:19]}), but the passages come from "
                           f"{given} ({now[:19]}); encode that corpus into a dense index of its own")


def _encoded_corpus(folder: Path) -> tuple[str, Path | None]:
    """The fingerprint of the corpus ``folder`` was encoded from, and its path (a relative one taken from the folder)."""
    made = Provenance.from_dict(read_record(folder / RECORD_NAME), folder / RECORD_NAME)
    encoded, recorded = made.inputs.get("corpus"), made.sources.get("corpus")
    if encoded is None:
        raise ResrankError(f"{folder}: its record names no corpus it was encoded from, so its vectors cannot be matched to "
                           f"passages; {_remedy(folder)}")
    return encoded, Path(os.path.normpath(folder / recorded)) if recorded is not None else None


def cached_index_dir(corpus: str | Path, name: str, model: str | Path, dtype: str | None = None, batch_size: int = 64,
                     threads: int | None = None) -> Path:
    """Where the cache keeps ``corpus`` encoded by ``model``'s encoder: named by the digest of the encoding's provenance, so
    the demo and the reproduction grid share one encoding, and another corpus, model or setting never meets it."""
    provenance = encode_provenance(corpus, model, batch_size, dtype=dtype, threads=threads)
    return cache_dir() / "dense" / f"{name.replace('/', '-')}-{provenance.digest()}"


class DenseVectors:
    """docid -> passage vector, memory-mapped from an index folder built by :func:`encode_step` (checked, see
    :func:`check_dense_index`; ``search`` also requires its FAISS index)."""

    def __init__(self, index_dir: str | Path, search: bool = False) -> None:
        folder = Path(index_dir)
        self.meta = check_dense_index(folder, search)
        self.folder = folder
        self.vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
        docids = (folder / DOCID_FILE).read_text(encoding="utf-8").splitlines()
        if len(docids) != len(self.vectors):
            raise ResrankError(f"{folder}: {len(docids)} docids for {len(self.vectors)} vectors; {_remedy(folder)}")
        self.rows = {docid: row for row, docid in enumerate(docids)}
        self.encoded: tuple[Path, np.ndarray] | None = None  # its corpus, and per row the hash of the text it encoded

    def check_encoder(self, encoder: Encoder) -> None:
        """Refuse vectors from another encoder: it would silently mix two embedding spaces."""
        if self.meta["dim"] != encoder.dim:
            raise ResrankError(f"{self.folder}: index vectors have dimension {self.meta['dim']}, the encoder {encoder.dim}")
        probe, stored = _probe(encoder), np.asarray(self.meta["probe"], dtype=np.float32)
        cosine = float(probe @ stored / (np.linalg.norm(probe) * np.linalg.norm(stored) + 1e-12))
        if cosine < PROBE_MIN_COSINE:
            raise ResrankError(f"{self.folder}: built with a different encoder (probe cosine {cosine:.3f})")

    def get(self, docids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of those docids that the index holds, read in one gather (a served request's hundred ids cost one
        memory-mapped read, not a hundred)."""
        held = [d for d in docids if d in self.rows]
        block = np.asarray(self.vectors[[self.rows[d] for d in held]], dtype=np.float32)
        return dict(zip(held, block))

    def check_texts(self, texts: Mapping[str, str], given_at: str = "the passages given") -> None:
        """Refuse to lend vectors to ``texts`` (docid -> text, from ``given_at``) the index did not encode: a docid it holds
        would be scored with the vector of another passage under that id (the encoder matches, so nothing else would tell).
        The corpus its record names is read once (checked by fingerprint) and kept as a hash per row: later checks read no file."""
        held = [d for d in texts if d in self.rows]
        if not held:
            return
        if self.encoded is None:
            encoded, where = _encoded_corpus(self.folder)
            if where is None or not where.is_file() or fingerprint(where) != encoded:
                state = "not recorded" if where is None else "missing" if not where.is_file() else "changed since"
                raise ResrankError(f"{self.folder}: the texts of {given_at} cannot be checked against the corpus it was encoded "
                                   f"from ({where}: {state}); rerank without its vectors, or encode those passages into a "
                                   "dense index of their own")
            hashes = np.zeros(len(self.rows), dtype=np.int64)
            for document in iter_corpus(where):
                hashes[self.rows[document.docid]] = hash(document.contents)
            self.encoded = where, hashes
        wrong = min((d for d in held if hash(str(texts[d])) != self.encoded[1][self.rows[d]]), default=None)
        if wrong is not None:
            raise ResrankError(f"{self.folder}: docid {wrong!r} has another text in {given_at} than in {self.encoded[0]}, the corpus "
                               "it was encoded from; rerank without its vectors, or encode those passages into a dense index of "
                               "their own")


def iter_dense_retrieve(index_dir: str | Path, model: str | Path, topics: dict[str, Query],
                        hits: int, batch_size: int = 32, threads: int = 1, device: str | None = None, dtype: str | None = None,
                        qids: Sequence[str] | None = None, remove_query: bool = False) -> Iterator[tuple[str, list[Candidate]]]:
    """Search ``index_dir`` with Pyserini's FaissSearcher, ``model``'s encoder encoding the queries: each query of ``qids``
    (default: every topic, in order) with its hits, blocks of ``batch_size`` queries searched in one call; with
    ``remove_query`` a hit whose docid is the qid is dropped, one hit deeper searched in its place (BM25's rule).

    A block is the unit a shard owns and a resumed retrieval redoes, so the blocks together are the one-process run
    exactly. Hits come in :func:`~resrank_eval.formats.trec.pyserini_order` (tied scores as Pyserini's run evaluates them).
    """
    from ..jvm import pyserini_module
    from ..model import QueryEncoder, load_encoder

    check_count(hits, "hits")
    vectors = DenseVectors(index_dir, search=True)
    encoder = load_encoder(model, device, dtype, batch_size=batch_size)
    vectors.check_encoder(encoder)
    try:
        searcher = pyserini_module("pyserini.search.faiss").FaissSearcher(str(index_dir), QueryEncoder(encoder))
    except RuntimeError as exc:  # FAISS reports a bad file as a RuntimeError with a C++ trace
        raise ResrankError(f"{Path(index_dir) / FAISS_FILE}: not a readable FAISS index ({first_line(exc)})") from None
    # FAISS allocates k slots per query, however few passages the index holds
    depth = min(hits + 1 if remove_query else hits, searcher.num_docs)
    chosen = list(topics) if qids is None else list(qids)
    with computing_on(threads), progress(total=len(chosen), desc="dense search", unit="query") as bar:
        for start in range(0, len(chosen), batch_size):
            block = chosen[start:start + batch_size]
            results = searcher.batch_search([topics[q].text for q in block], block, k=depth, threads=threads)
            kept = {qid: [r for r in results[qid] if not (remove_query and r.docid == qid)][:hits] for qid in block}
            run = {qid: pyserini_order(Candidate(r.docid, float(r.score)) for r in found) for qid, found in kept.items()}
            broken = next((qid for qid, found in run.items() if not all(math.isfinite(c.score) for c in found)), None)
            if broken is not None:
                raise ResrankError(f"{index_dir}: dense search gave a non-finite score for query {broken!r} (NaN vectors?)")
            bar.update(len(block))
            yield from run.items()
