"""FIRST-style listwise reranking (Reddy et al., 2024): one forward pass per window, no decoding loop.

Passages get letter identifiers ``[A]..[T]`` (one token each); the prompt (``--protocol rankgpt``: RankGPT's
conversation; ``rank_llm``: rank_llm 0.26.0's FirstMistral-style one, chat-templated, ftfy-repaired and fitted
into the context with the model's tokenizer, as rank_llm does) is opened for the assistant's answer with ``[``,
and the window is ordered by the logits of the identifier tokens at that next position -- the model's
preference for which passage it would name first. Thinking is switched off through the chat template
where it has the switch, as rank_llm's FIRST path does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import ArgumentError, ResrankError
from .backend import Generation
from .hf import HFChatBackend, chat_texts, encode_texts, load_causal_lm
from .prompt import Message, letter_labels, rank_llm_first_messages, rankgpt_messages
from .protocol import fit_to_context, prompt_room
from .sliding import SlidingWindowReranker, Window, WindowResult

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class FirstReranker(SlidingWindowReranker):
    """Single-token listwise ranking with a local HF chat model; windows of at most 26 passages."""

    name = "first"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, **sliding: Any) -> None:
        """``sliding``: :class:`SlidingWindowReranker`'s window, stride, max_words, protocol and context_size."""
        super().__init__(HFChatBackend(model, tokenizer, max_new_tokens=1), **sliding)  # one token's logits are the whole answer
        self.model = model
        self.tokenizer = tokenizer
        self.label_ids = [self._single_token(letter) for letter in letter_labels(self.window)]  # rejects windows letters cannot label

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        super().check_options(values)
        try:
            letter_labels(values["window"])
        except ValueError as exc:
            raise ArgumentError(f"`window`: {exc}") from None

    @classmethod
    def from_options(cls, model: str, device: str | None, dtype: str, **sliding: Any) -> FirstReranker:
        """A local HF chat model (id or folder, or ``smollm2``)."""
        lm, tokenizer = load_causal_lm(model, device, dtype)
        return cls(lm, tokenizer, **sliding)

    def _single_token(self, letter: str) -> int:
        """The bare letter's token, the one that follows ``[`` in an answer ``[A] > [B]`` (rank_llm reads the tokens that decode
        to exactly the letter); not ``encode(letter)``, which a sentencepiece tokenizer (Mistral's) spells ``▁A``."""
        token = self.tokenizer.convert_tokens_to_ids(letter)
        if token is None or token == self.tokenizer.unk_token_id:
            raise ResrankError(f"FIRST needs single-token identifiers, but the tokenizer has no token {letter!r}")
        return int(token)

    def prompt(self, query: str, passages: list[str]) -> tuple[list[Message], str]:
        """The conversation and the text the model reads (before the ``[`` that opens its answer)."""
        from ftfy import fix_text

        labels = letter_labels(len(passages))
        if self.protocol == "rankgpt":
            messages = rankgpt_messages(query, passages, labels, self.max_words)
            return messages, chat_texts(self.tokenizer, [messages])[0]

        def render(words: int) -> tuple[list[Message], str]:
            messages = rank_llm_first_messages(query, passages, labels, words)
            return messages, fix_text(chat_texts(self.tokenizer, [messages])[0])

        answer = self.tokenizer.encode(" > ".join(f"[{label}]" for label in labels), add_special_tokens=False)
        return fit_to_context(render, lambda r: len(self.tokenizer.encode(r[1])), len(labels), self.max_words,
                              prompt_room(self.context_size, len(answer), len(labels)))

    def rank_windows(self, windows: list[Window]) -> list[WindowResult]:
        import torch

        prompts = [self.prompt(*w) for w in windows]
        batch = encode_texts(self.tokenizer, [text + "[" for _, text in prompts], self.model.device)
        positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # padded rows see the positions they would alone
        with torch.inference_mode():
            logits = self.model(**batch, position_ids=positions, logits_to_keep=1).logits[:, -1, :]
        scores = logits[:, self.label_ids].float().cpu()
        prompt_lengths = batch["attention_mask"].sum(-1).tolist()
        results = []
        for (_, passages), (messages, _), row, length in zip(windows, prompts, scores, prompt_lengths):
            n = len(passages)
            order = torch.argsort(row[:n], descending=True, stable=True).tolist()
            answer = " > ".join(f"[{letter_labels(n)[k]}]" for k in order)
            results.append((order, n, messages, Generation(answer, int(length), 1, 1)))
        return results
