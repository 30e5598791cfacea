"""The serve tests' shared fixtures: a tiny ResRank model that reads the first stage, and its dense index."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resrank_eval.formats.corpus import write_corpus
from resrank_eval.model import ResRankModel
from resrank_eval.retrieve.dense import encode_step
from tests.helpers import SERVE_DOCS
from tests.tiny_models import tiny_config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve-model")
    config = tiny_config(root, rank_embeddings=True, score_fusion=True, query_residual=True, residual="gated")
    torch.manual_seed(0)
    model = ResRankModel.from_config(config, "cpu", "float32")
    for name, param in model.named_parameters():  # head parameters off their zero start, so the first stage counts
        if not name.startswith(("encoder.", "reranker.", "injector.")):
            param.data.uniform_(0.25, 0.75)
    model.save_pretrained(root / "model")
    return root / "model"


@pytest.fixture(scope="module")
def index_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve-index")
    write_corpus(root / "corpus.jsonl", SERVE_DOCS)
    encoder = ResRankModel.from_pretrained(model_dir, "cpu").encoder
    encode_step(root / "corpus.jsonl", encoder, root / "index", batch_size=4).run()
    return root / "index"
