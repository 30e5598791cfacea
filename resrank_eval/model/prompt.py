"""The listwise prompt: instruction, one placeholder token per passage, the query last (E2Rank layout).

The placeholder is a reserved special token, so each passage occupies exactly one position whose
input embedding the model replaces by the passage vector. Query last: with causal attention the
final token has read every passage, so its hidden state can serve as the query vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ResrankError
from .config import ResRankConfig


@dataclass
class Prompt:
    """Token ids and the index of each passage's placeholder among them."""

    ids: list[int]
    slots: list[int]


def reserve_tokens(tokenizer: Any, config: ResRankConfig) -> bool:
    """Register the placeholder (and query token) as special tokens; True when the vocab grew."""
    wanted = [t for t in (config.placeholder_token, config.query_token) if t]
    missing = [t for t in wanted if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    return bool(missing)


class PromptBuilder:
    """Renders and tokenizes prompts for one reranker tokenizer."""

    def __init__(self, config: ResRankConfig, tokenizer: Any) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.placeholder_id = _single_token_id(tokenizer, config.placeholder_token)
        self.query_token_id = _single_token_id(tokenizer, config.query_token) if config.query_token else None
        self.use_chat = bool(config.chat_template and getattr(tokenizer, "chat_template", None))

    def render(self, query: str, count: int) -> str:
        """The prompt text for ``count`` passages (chat-wrapped when configured and available)."""
        config = self.config
        query = self.query_text(query)
        passages = config.passage_separator.join(
            config.passage_template.format(index=i + 1, placeholder=config.placeholder_token) for i in range(count)
        )
        text = config.prompt_template.format(passages=passages, query=query)
        if self.use_chat:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        return text

    def query_text(self, query: str) -> str:
        """The query as the prompt holds it: reserved tokens blanked, so a query cannot inject a slot."""
        for reserved in (self.config.placeholder_token, self.config.query_token):
            if reserved:
                query = query.replace(reserved, " ")
        return query

    def build(self, query: str, count: int) -> Prompt:
        ids = self.tokenizer(self.render(query, count), add_special_tokens=not self.use_chat)["input_ids"]
        if self.query_token_id is not None:
            ids = ids + [self.query_token_id]
        slots = [i for i, token in enumerate(ids) if token == self.placeholder_id]
        if len(slots) != count:
            raise ResrankError(
                f"reranker prompt holds {len(slots)} placeholder tokens for {count} passages; "
                "check prompt_template and placeholder_token"
            )
        return Prompt(ids, slots)


def _single_token_id(tokenizer: Any, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids([token])
    if len(ids) != 1 or ids[0] is None or ids[0] == tokenizer.unk_token_id:
        raise ResrankError(f"reranker tokenizer has no single token {token!r}")
    return int(ids[0])
