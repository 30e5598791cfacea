"""The NFCorpus dense index shipped with the bundled ResRank-mini must hold exactly the vectors its
encoder gives today (stored in float16), for every bundled NFCorpus passage in corpus order."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from resrank_eval.demo import corpus_vectors
from resrank_eval.formats.corpus import iter_corpus
from resrank_eval.model import load_encoder
from resrank_eval.model.sources import BUNDLED_MODEL as MODEL
from resrank_eval.model.sources import BUNDLED_NFCORPUS_INDEX as INDEX
from resrank_eval.retrieve.dense import DOCID_FILE, META_FILE, VECTORS_FILE, DenseVectors, check_passages, encode_step
from tests.helpers import NFCORPUS

FLOAT16_ERROR = 1e-3  # unit vectors: components < 1, float16 keeps 11 bits


def test_shipped_index_covers_the_bundled_corpus_in_order() -> None:
    docids = (INDEX / DOCID_FILE).read_text(encoding="utf-8").splitlines()
    assert docids == [d.docid for d in iter_corpus(NFCORPUS)]
    vectors = np.load(INDEX / VECTORS_FILE, mmap_mode="r")
    meta = json.loads((INDEX / META_FILE).read_text(encoding="utf-8"))
    assert vectors.dtype == np.float16 and vectors.shape == (len(docids), meta["dim"]) == (meta["count"], 384)


def test_shipped_index_records_the_bundled_corpus_it_was_encoded_from() -> None:
    """What lets the demo (and any rerank of NFCorpus) reuse the vectors: another corpus is refused."""
    check_passages(INDEX, {"corpus": NFCORPUS}, ["MED-10"], lambda docids: {})
    check_passages(INDEX, {"candidates": "c.json"}, ["MED-10"], lambda docids: {d.docid: d.contents for d in iter_corpus(NFCORPUS)
                                                                                if d.docid in docids})


def test_shipped_vectors_match_a_fresh_encoding_of_a_sample() -> None:
    encoder = load_encoder(MODEL, "cpu", "float32")
    index = DenseVectors(INDEX)
    index.check_encoder(encoder)
    documents = list(iter_corpus(NFCORPUS))[::60]
    with torch.inference_mode():
        fresh = encoder.encode([d.contents for d in documents]).numpy()
    shipped = index.get([d.docid for d in documents])
    assert np.abs(fresh - np.stack([shipped[d.docid] for d in documents])).max() < FLOAT16_ERROR


@pytest.mark.slow
def test_shipped_vectors_match_a_fresh_encode_of_the_whole_corpus(tmp_path) -> None:
    fresh = tmp_path / "index"
    encode_step(NFCORPUS, load_encoder(MODEL, "cpu", "float32"), fresh).run()
    assert (fresh / DOCID_FILE).read_text() == (INDEX / DOCID_FILE).read_text()
    difference = np.load(fresh / VECTORS_FILE) - np.load(INDEX / VECTORS_FILE).astype(np.float32)
    assert np.abs(difference).max() < FLOAT16_ERROR


def test_the_demo_reads_the_shipped_index_for_the_bundled_model() -> None:
    assert corpus_vectors(MODEL) == INDEX
