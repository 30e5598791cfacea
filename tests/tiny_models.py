"""Tiny real transformers models for fast tests: a random Qwen3 decoder and a random BERT encoder.

Both are built from configs (random weights, seeded) and saved as ordinary Hugging Face folders,
with a byte-level BPE tokenizer trained in well under a second, so every code path that loads
from a folder is the one users run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from resrank_eval.model import ResRankConfig
from resrank_eval.model.tokenizers import train_bpe_tokenizer


def train_tokenizer(folder: Path) -> None:
    train_bpe_tokenizer().save_pretrained(folder)


def tiny_qwen3(folder: Path, hidden: int = 32, seed: int = 0) -> Path:
    """A 2-layer Qwen3 (GQA, tied embeddings) with the trained BPE tokenizer."""
    from transformers import AutoModel, Qwen3Config

    train_tokenizer(folder)
    config = Qwen3Config(vocab_size=400, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=True,
                         max_position_embeddings=2048, pad_token_id=3, eos_token_id=0)
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(folder)
    return folder


def tiny_bert(folder: Path, hidden: int = 24, seed: int = 1, dropout: float = 0.1) -> Path:
    """A 2-layer BERT-like encoder with the trained BPE tokenizer."""
    from transformers import AutoModel, BertConfig

    train_tokenizer(folder)
    config = BertConfig(vocab_size=400, hidden_size=hidden, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=512, pad_token_id=3,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(folder)
    return folder


def tiny_config(root: Path, **options: object) -> ResRankConfig:
    """A BERT encoder (hidden 24) + Qwen3 reranker (hidden 32) config; options override defaults."""
    encoder = root / "bert"
    reranker = root / "qwen3"
    if not encoder.exists():
        tiny_bert(encoder)
    if not reranker.exists():
        tiny_qwen3(reranker)
    values: dict[str, object] = {"encoder": str(encoder), "reranker": str(reranker), "pooling": "mean",
                                 "projector": "linear", "max_passage_tokens": 64}
    values.update(options)
    return ResRankConfig(**values)  # type: ignore[arg-type]
