"""FIRST-style listwise reranking (Reddy et al., 2024): one forward pass per window, no decoding loop.

Passages get letter identifiers ``[A]..[T]`` (one token each); the prompt is RankGPT's with the
assistant's answer opened by ``[``, and the window is ordered by the logits of the identifier
tokens at that next position -- the model's preference for which passage it would name first.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

from ...errors import ResrankError
from .hf import encode_chats, load_causal_lm
from .prompt import letter_labels, rankgpt_messages
from .sliding import SlidingWindowReranker, Window, WindowResult

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class FirstReranker(SlidingWindowReranker):
    """Single-token listwise ranking with a local HF chat model; windows of at most 26 passages."""

    name = "first"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, window: int = 20, stride: int = 10,
                 max_words: int = 300) -> None:
        letter_labels(window)  # rejects windows letters cannot label
        super().__init__(window, stride, max_words)
        self.model = model
        self.tokenizer = tokenizer
        self.device = str(model.device)
        self.dtype = str(model.dtype).removeprefix("torch.")
        self.label_ids = [self._single_token(letter) for letter in string.ascii_uppercase[:window]]

    @classmethod
    def from_pretrained(cls, model: str, device: str | None = None, dtype: str | None = None, window: int = 20,
                        stride: int = 10, max_words: int = 300) -> FirstReranker:
        """A local HF chat model (id or folder, or ``smollm2``)."""
        lm, tokenizer = load_causal_lm(model, device, dtype)
        return cls(lm, tokenizer, window, stride, max_words)

    @classmethod
    def from_options(cls, **values: Any) -> FirstReranker:
        return cls.from_pretrained(**values)

    def _single_token(self, letter: str) -> int:
        ids = self.tokenizer.encode(letter, add_special_tokens=False)
        if len(ids) != 1:
            raise ResrankError(f"FIRST needs single-token identifiers, but the tokenizer splits {letter!r} into {len(ids)} tokens")
        return ids[0]

    def rank_windows(self, windows: list[Window]) -> list[WindowResult]:
        import torch

        conversations = [rankgpt_messages(w.query, w.passages, letter_labels(len(w.passages)), self.max_words) for w in windows]
        batch = {k: v.to(self.model.device) for k, v in encode_chats(self.tokenizer, conversations, suffix="[").items()}
        with torch.inference_mode():
            logits = self.model(**batch, logits_to_keep=1).logits[:, -1, :]
        scores = logits[:, self.label_ids].float().cpu()
        prompt_lengths = batch["attention_mask"].sum(-1).tolist()
        results = []
        for window, row, length in zip(windows, scores, prompt_lengths):
            n = len(window.passages)
            order = torch.argsort(row[:n], descending=True, stable=True).tolist()
            results.append(WindowResult(order, n, int(length), 1, 1))
        return results
