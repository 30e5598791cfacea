"""Tiny real transformers models for fast tests: a random Qwen3 decoder and a random BERT encoder.

Both are built from configs (random weights, seeded) and saved as ordinary Hugging Face folders,
with a byte-level BPE tokenizer trained in well under a second, so every code path that loads
from a folder is the one users run. ``scripts/bench_resrank.py`` borrows the tokenizer for its
random-weight models when given none.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from resrank_eval.model import ResRankConfig

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>")
SAMPLE_TEXT = (
    "Rank the passages below by their relevance to the search query.",
    "Search query: what causes fever in children and adults",
    "Vitamin D deficiency is common in northern countries during winter.",
    "The mitochondria is the powerhouse of the cell and produces energy.",
    "Statins lower cholesterol and reduce the risk of heart disease.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "Deep learning models such as transformers read tokens and produce hidden states.",
)


def train_bpe_tokenizer(texts: Iterable[str] = SAMPLE_TEXT * 20, vocab_size: int = 400, metaspace: bool = False) -> Any:
    """A ``PreTrainedTokenizerFast`` (EOS ``<|endoftext|>``, pad ``<pad>``) with ids < ``vocab_size``: byte-level (GPT-2's and
    Qwen's kind) or, with ``metaspace``, sentencepiece-style over ASCII (Llama-2's and Mistral's kind: a word's first piece
    carries ``▁``, so ``A`` alone is ``▁A`` while ``[A`` is ``[``, ``A``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    if metaspace:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        tokenizer.decoder = decoders.Metaspace(prepend_scheme="first")
        alphabet = list(string.printable)
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=alphabet)
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=SPECIAL_TOKENS[0], pad_token=SPECIAL_TOKENS[3])




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
