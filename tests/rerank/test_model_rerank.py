"""ResRank and encoder rerankers, the dense index (resume, vector reuse) and dense retrieval."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from resrank_eval.errors import InputError, ResrankError
from resrank_eval.formats.corpus import write_corpus
from resrank_eval.formats.topics import read_topics
from resrank_eval.formats.trec import pyserini_order
from resrank_eval.model import Encoder, QueryEncoder, ResRankModel, load_encoder
from resrank_eval.parallel import computing_on
from resrank_eval.rerank import rerank
from resrank_eval.rerank.resrank import EncoderReranker, ResRankReranker
from resrank_eval.retrieve.dense import DenseVectors, encode_step, iter_dense_retrieve
from resrank_eval.types import Candidate, Query, Ranking
from tests.helpers import CRANFIELD_BEIR
from tests.tiny_models import tiny_config

DOCS = {f"d{i}": text for i, text in enumerate([
    "Vitamin D deficiency is common in winter", "the mitochondria is the powerhouse of the cell",
    "Paris is the capital of France", "statins lower cholesterol", "transformers read tokens",
    "Berlin is the capital of Germany", "fever in children", "heart disease risk factors",
])}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    ResRankModel.from_config(tiny_config(root), "cpu", "float32").save_pretrained(root / "model")
    return root / "model"


@pytest.fixture(scope="module")
def index_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dense")
    write_corpus(root / "corpus.jsonl", DOCS)
    encoder = ResRankModel.from_pretrained(model_dir, "cpu").encoder
    encode_step(root / "corpus.jsonl", encoder, root / "index", batch_size=3, shard_size=3).run()
    return root / "index"


@pytest.fixture(scope="module")
def cranfield_index(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cranfield's 1,400 real abstracts encoded uninterrupted, in three chunks. Two are empty and some share their first 64
    tokens: identical vectors, so exactly tied scores."""
    index = tmp_path_factory.mktemp("cranfield") / "index"
    encode_step(CRANFIELD_BEIR, load_encoder(str(model_dir), "cpu"), index, batch_size=64, shard_size=500).run()
    return index


def rankings(with_text: bool = True) -> list[Ranking]:
    def ranking(qid: str, text: str, docids: list[str]) -> Ranking:
        return Ranking(Query(qid, text), [Candidate(d, 10.0 - i, DOCS[d] if with_text else None)
                                          for i, d in enumerate(docids)])

    return [ranking("q1", "capital of France", ["d0", "d1", "d2", "d5"]),
            ranking("q2", "fever", ["d6", "d3", "d4"]), ranking("q3", "heart", ["d7", "d3"])]


@pytest.mark.parametrize("cls", [ResRankReranker, EncoderReranker])
def test_reranker_orders_scores_and_fills_stats(cls: type, model_dir: Path) -> None:
    reranker = cls.from_pretrained(str(model_dir), device="cpu")
    results = rerank(reranker, rankings(), batch_size=2)
    assert len(results) == 3
    for ranking, result in zip(rankings(), results):
        scores = [c.score for c in result.candidates]
        assert sorted(c.docid for c in result.candidates) == sorted(ranking.docids)
        assert scores == sorted(scores, reverse=True)
        stats = result.stats
        assert stats.reranker == cls.name and stats.candidates == len(ranking.candidates)
        assert stats.generated_tokens == 0 and stats.encoder_tokens > 0 and stats.device == "cpu"
        assert stats.dtype == "float32" and stats.batch_size == (2 if ranking.query.qid != "q3" else 1)
        assert stats.total_ms == pytest.approx(stats.encode_ms + stats.rerank_ms)
        if cls is ResRankReranker:
            assert stats.forward_passes == 1 and stats.reranker_input_tokens > len(ranking.candidates)


@pytest.mark.parametrize("cls", [ResRankReranker, EncoderReranker])
def test_cached_vectors_are_reused_not_reencoded(cls: type, model_dir: Path, index_dir: Path) -> None:
    online = rerank(cls.from_pretrained(str(model_dir), device="cpu"), rankings())
    cached = rerank(cls.from_pretrained(str(model_dir), device="cpu", embeddings=index_dir), rankings(False))
    for a, b in zip(online, cached):
        assert [c.docid for c in a.candidates] == [c.docid for c in b.candidates]
        assert np.allclose([c.score for c in a.candidates], [c.score for c in b.candidates], atol=1e-5)
        assert b.stats.extra["cached_vectors"] == b.stats.candidates
        if cls is ResRankReranker:
            assert b.stats.encoder_tokens == 0 and b.stats.encode_ms == 0.0


class SlowIndex(DenseVectors):
    """A dense index on a slow disk: every read of vectors takes ``delay`` seconds."""

    delay = 0.3

    def get(self, docids: list[str]) -> dict[str, np.ndarray]:
        time.sleep(self.delay)
        return super().get(docids)


@pytest.mark.parametrize("cls", [ResRankReranker, EncoderReranker])
def test_reading_cached_vectors_is_part_of_the_latency(cls: type, model_dir: Path, index_dir: Path) -> None:
    """Every vector read from the index: nothing is encoded (encode_ms 0), but the read is the queries' time, so their
    latencies add up to at least what it took (it was no query's: latency and queries/s left it out)."""
    reranker = cls.from_pretrained(str(model_dir), device="cpu")
    reranker.store = SlowIndex(index_dir)
    results = rerank(reranker, rankings(False), batch_size=3)
    assert all(r.stats.encode_ms == 0 and r.stats.extra["cached_vectors"] == r.stats.candidates for r in results)
    assert sum(r.stats.total_ms for r in results) >= 1000 * SlowIndex.delay


def test_partly_cached_candidates_mix_stored_and_fresh_vectors(model_dir: Path, index_dir: Path) -> None:
    extra = {"n1": "a passage the index does not hold", "n2": "another new one about fever"}
    mixed = [Ranking(Query("q1", "fever"), [Candidate(d, 0.0, extra.get(d) or DOCS[d]) for d in ("n1", "d6", "n2", "d3")])]
    online = rerank(ResRankReranker.from_pretrained(str(model_dir), device="cpu"), mixed)[0]
    cached = rerank(ResRankReranker.from_pretrained(str(model_dir), device="cpu", embeddings=index_dir), mixed)[0]
    assert [c.docid for c in cached.candidates] == [c.docid for c in online.candidates]
    assert np.allclose([c.score for c in cached.candidates], [c.score for c in online.candidates], atol=1e-5)
    assert cached.stats.extra["cached_vectors"] == 2


def test_missing_text_and_foreign_index_are_errors(model_dir: Path, index_dir: Path) -> None:
    with pytest.raises(ResrankError, match="no text and no cached vector"):
        rerank(ResRankReranker.from_pretrained(str(model_dir), device="cpu"), rankings(False))
    other = ResRankModel.from_pretrained(model_dir, "cpu")
    torch.manual_seed(5)
    other.encoder.model.embeddings.word_embeddings.weight.data.normal_()
    with pytest.raises(ResrankError, match="different encoder"):
        ResRankReranker(other, embeddings=index_dir)


def test_dense_index_layout_and_resume_after_failure(model_dir: Path, index_dir: Path, tmp_path: Path) -> None:
    assert (index_dir / "docid").read_text().split() == list(DOCS)
    assert np.load(index_dir / "vectors.npy").shape == (8, 24) and not (index_dir / "shards").exists()
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": d, "title": "", "text": t}) for d, t in DOCS.items()]
    corpus.write_text("\n".join(lines[:7] + ["{broken"]) + "\n")
    encoder = ResRankModel.from_pretrained(model_dir, "cpu").encoder
    with pytest.raises(InputError):
        encode_step(corpus, encoder, tmp_path / "index", shard_size=3).run()
    shards = sorted((tmp_path / "index" / "shards").glob("*.npy"))
    assert [s.name for s in shards] == ["00000.npy", "00001.npy"]
    corpus.write_text("\n".join(lines) + "\n")  # chunks encoded from another corpus are not resumed: refused, by name
    with pytest.raises(ResrankError, match="made from a different corpus"):
        encode_step(corpus, encoder, tmp_path / "index", shard_size=3).run()
    corpus.write_text("\n".join(lines[:7] + ["{broken"]) + "\n")
    first = shards[0].stat().st_mtime_ns
    (tmp_path / "fixed.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError):  # the same corpus resumes: the finished chunks are kept
        encode_step(corpus, encoder, tmp_path / "index", shard_size=3).run()
    assert shards[0].stat().st_mtime_ns == first
    encode_step(tmp_path / "fixed.jsonl", encoder, tmp_path / "fixed", shard_size=3).run()
    assert np.allclose(np.load(tmp_path / "fixed" / "vectors.npy"), np.load(index_dir / "vectors.npy"), atol=1e-6)
    assert (tmp_path / "fixed" / "docid").read_text() == (index_dir / "docid").read_text()
    assert DenseVectors(tmp_path / "fixed").get(["d3", "zz"]).keys() == {"d3"}


def test_dense_retrieve_with_pyserini_faiss_searcher(model_dir: Path, index_dir: Path) -> None:
    topics = {"q1": Query("q1", "capital of France"), "q2": Query("q2", "fever")}
    threads = torch.get_num_threads()
    run = dict(iter_dense_retrieve(index_dir, str(model_dir), topics, hits=5, batch_size=4, threads=threads + 1))
    assert torch.get_num_threads() == threads  # FAISS shares torch's OpenMP pool: the caller's count comes back
    assert set(run) == {"q1", "q2"} and all(len(hits) == 5 for hits in run.values())
    encoder = ResRankModel.from_pretrained(model_dir, "cpu").encoder
    with torch.no_grad():
        query = encoder.encode(["capital of France"], queries=True)[0].numpy()
    vectors = DenseVectors(index_dir)
    expected = sorted(DOCS, key=lambda d: -float(vectors.get([d])[d] @ query))[:5]
    assert [c.docid for c in run["q1"]] == expected
    scores = [c.score for c in run["q1"]]
    assert scores == sorted(scores, reverse=True)


FAISS_SCORE_ERROR = 1e-6
"""How far FAISS's float32 inner products may lie from the exact ones: sums of 24 products of unit vectors, added in
BLAS's order (measured: 1.2e-7). Enough to reorder hits within Pyserini's 6-decimal ties, so hits are checked against
their exact scores, not as a list against numpy's float32 products (which differ from FAISS's by up to 3e-7)."""


def test_dense_retrieve_is_the_exact_inner_product_top_k(model_dir: Path, cranfield_index: Path) -> None:
    """Every Cranfield query through Pyserini's FaissSearcher (blocks of 64, two threads, BEIR's self-hit rule) against the
    exact inner products of the stored vectors (``vectors.npy`` rows named by ``docid``) with the query vectors: each hit
    scored as its vector is, no passage left out that scores above the last hit, the hits in the project's tie order
    (:func:`pyserini_order`: identical vectors by docid descending). Which of the identical vectors tied at the cut-off
    make the hits is FAISS's heap's choice (neither the first rows nor the highest docids), as in Pyserini's own run."""
    topics, hits, block, threads = read_topics(CRANFIELD_BEIR / "queries.jsonl.gz"), 100, 64, 2
    run = dict(iter_dense_retrieve(cranfield_index, str(model_dir), topics, hits=hits, batch_size=block, threads=threads,
                                   remove_query=True))
    docids = (cranfield_index / "docid").read_text().splitlines()
    rows = {docid: row for row, docid in enumerate(docids)}
    encoder = QueryEncoder(load_encoder(str(model_dir), "cpu", batch_size=block))
    qids = list(topics)
    with computing_on(threads):  # the query vectors the search made: the same blocks on as many threads
        queries = np.concatenate([encoder.encode_batch([topics[q].text for q in qids[i:i + block]]) for i in range(0, len(qids), block)])
    exact = queries.astype(np.float64) @ np.load(cranfield_index / "vectors.npy").astype(np.float64).T
    assert list(run) == qids
    tied_inside = tied_at_cutoff = 0
    for qid, scores in zip(qids, exact):
        found = run[qid]
        kept = [rows[c.docid] for c in found]
        assert len(set(kept)) == len(kept) == hits and qid not in {c.docid for c in found}
        assert found == pyserini_order(found)
        np.testing.assert_allclose([c.score for c in found], scores[kept], rtol=0, atol=FAISS_SCORE_ERROR)
        for before, after in zip(found, found[1:]):
            if scores[rows[before.docid]] == scores[rows[after.docid]]:
                assert before.score == after.score and before.docid > after.docid
                tied_inside += 1
        left = np.setdiff1d(np.arange(len(docids)), kept + [rows[qid]])  # Cranfield's qids are docids too
        cutoff = scores[kept].min()
        assert scores[left].max() <= cutoff + 2 * FAISS_SCORE_ERROR, qid
        tied_at_cutoff += bool((scores[left] == cutoff).any())
    assert tied_inside > 100 and tied_at_cutoff > 0  # the real duplicates reach the checks (289 and 5 when written)


class DiesAtItsSecondChunk(Encoder):
    """The encoder (its weights, so its probe and the encode's provenance) of an encode killed as it starts its second chunk."""

    chunks = 0

    def encode(self, texts: Sequence[str], queries: bool = False, batch_size: int | None = None) -> torch.Tensor:
        if len(texts) > 1:  # a chunk, not the probe
            if self.chunks == 1:
                raise KeyboardInterrupt("killed")
            self.chunks += 1
        return super().encode(texts, queries, batch_size)


def test_a_resumed_encode_writes_what_an_uninterrupted_one_writes(model_dir: Path, cranfield_index: Path, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Killed after its first chunk of three, the encode resumed by a fresh encoder keeps that chunk and writes the
    uninterrupted encode's index folder byte for byte: vectors, docids, FAISS index, metadata and record."""
    weights = load_encoder(str(model_dir), "cpu")
    dying = DiesAtItsSecondChunk(weights.model, weights.tokenizer, weights.pooling, weights.normalize, weights.max_tokens)
    index = tmp_path / "index"
    with pytest.raises(KeyboardInterrupt):
        encode_step(CRANFIELD_BEIR, dying, index, batch_size=64, shard_size=500).run()
    assert sorted(path.name for path in (index / "shards").glob("0*")) == ["00000.docids", "00000.npy"]
    with caplog.at_level(logging.INFO, logger="resrank_eval"):
        encode_step(CRANFIELD_BEIR, load_encoder(str(model_dir), "cpu"), index, batch_size=64, shard_size=500).run()
    assert "resuming, 1 units done already" in caplog.text
    names = sorted(path.name for path in cranfield_index.iterdir())
    assert sorted(path.name for path in index.iterdir()) == names == sorted(["index", "docid", "vectors.npy", "encoder.json",
                                                                            "provenance.json"])
    for name in names:
        assert (index / name).read_bytes() == (cranfield_index / name).read_bytes(), name


def test_results_are_paired_with_their_rankings_by_qid() -> None:
    """A result names its query (``Reranked.stats.qid``); one returned out of order is an error, not a silent mix-up."""
    from resrank_eval.rerank.identity import IdentityReranker

    class Swapped(IdentityReranker):
        def rerank_batch(self, rankings: list[Ranking]) -> list:
            return super().rerank_batch(rankings)[::-1]

    assert [r.stats.qid for r in rerank(IdentityReranker(), rankings(), batch_size=2)] == ["q1", "q2", "q3"]
    with pytest.raises(ResrankError, match="returned query 'q2' where 'q1' was due"):
        rerank(Swapped(), rankings(), batch_size=2)


@pytest.mark.parametrize("top_k", [None, 0, -1, 2.5, True])
def test_rerank_run_refuses_a_depth_that_is_not_a_positive_integer(top_k: object) -> None:
    """``top_k`` is how many the reranked head holds before the first stage's rest: ``None`` reranked all and then
    appended every candidate again (each docid twice); a fraction failed deep in a slice."""
    from resrank_eval.rerank import rerank_run
    from resrank_eval.rerank.identity import IdentityReranker

    run = {"q1": [Candidate(d, -i) for i, d in enumerate(DOCS)]}
    with pytest.raises(ResrankError, match=f"^top_k must be an integer >= 1, got {re.escape(repr(top_k))}$"):
        rerank_run(IdentityReranker(), {"q1": Query("q1", "capital of France")}, run, DOCS, top_k=top_k)  # type: ignore[arg-type]
    assert [c.docid for c in rerank_run(IdentityReranker(), {"q1": Query("q1", "q")}, run, DOCS, top_k=100).run["q1"]] == list(DOCS)


@pytest.mark.parametrize(("top_k", "batch_size", "message"), [(None, 1, "top_k must be an integer >= 1, got None"),
                                                               (2.5, 1, "top_k must be an integer >= 1, got 2.5"),
                                                               (10, 0, "batch_size must be an integer >= 1, got 0")])
def test_rerank_step_refuses_counts_that_are_not_positive_integers(tmp_path: Path, top_k: object, batch_size: int,
                                                                   message: str) -> None:
    """One line naming the Python argument; None failed comparing with 1 (a TypeError), 2.5 deep in a slice."""
    from resrank_eval.rerank import rerank_step, reranker_factory

    run = {"q1": [Candidate(d, -i) for i, d in enumerate(DOCS)]}
    with pytest.raises(ResrankError, match=f"^{re.escape(message)}$"):
        rerank_step(reranker_factory("identity"), {"q1": Query("q1", "q")}, run, DOCS, tmp_path / "run.trec", top_k, batch_size)  # type: ignore[arg-type]
