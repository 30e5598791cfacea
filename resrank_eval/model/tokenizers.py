"""A small byte-level BPE tokenizer trained in a second, for random-initialised models.

Latency does not depend on weight values, so the benchmark times a 4B-shaped Qwen3 with random
weights; and tests build tiny models. Both need a real fast tokenizer without the hub.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


def train_bpe_tokenizer(texts: Iterable[str] = SAMPLE_TEXT * 20, vocab_size: int = 400) -> Any:
    """A ``PreTrainedTokenizerFast`` (EOS ``<|endoftext|>``, pad ``<pad>``) with ids < ``vocab_size``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=SPECIAL_TOKENS[0], pad_token=SPECIAL_TOKENS[3])
