"""The listwise prompt: instruction, one placeholder token per passage, the query last (E2Rank layout).

The placeholder is a reserved special token, so each passage occupies exactly one position whose
input embedding the model replaces by the passage vector. Query last: with causal attention the
final token has read every passage, so its hidden state can serve as the query vector.

Per call only the query is tokenized: the prompt for ``count`` passages is rendered once with a
sentinel query and split at the last placeholder; everything up to it is tokenized once (the
placeholder is a special token, so the tokenizer never merges across it), and per call only
``tail + query + rest``. Each count's pieces are checked against the whole prompt rendered and
tokenized (:meth:`Prompts.build`) on probe queries; a tokenizer or chat template that breaks the split
(a prefix space added to every segment, a template that trims the content) is logged and that count
is tokenized whole, so the ids are always the whole prompt's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ResrankError
from .config import ResRankConfig

log = logging.getLogger(__name__)

SENTINEL = "\u2060resrank-query\u2060"
PROBES = ("", " ", "what causes fever?", "  leading and trailing  ", "Ünïcödé — “quotes” 中文 ½",
          "line\nbreak\ttab", "::punct:: (a) [b] {c}", "<|im_end|> <|endoftext|> </s> [SEP]", "x" * 40)


@dataclass
class Prompt:
    """Token ids and the index of each passage's placeholder among them."""

    ids: list[int]
    slots: list[int]


@dataclass(frozen=True)
class _Pieces:
    """One count's fixed ids around the per-call text: ``lead + tokenize(tail + query + rest) + trail``."""

    lead: list[int]
    tail: str
    rest: str
    trail: list[int]
    slots: list[int]


def reserve_tokens(tokenizer: Any, config: ResRankConfig) -> bool:
    """Register the placeholder (and query token) as special tokens; True when the vocab grew."""
    wanted = [t for t in (config.placeholder_token, config.query_token) if t]
    missing = [t for t in wanted if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    return bool(missing)


class Prompts:
    """Renders and tokenizes prompts for one reranker tokenizer."""

    def __init__(self, config: ResRankConfig, tokenizer: Any) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.placeholder_id = _single_token_id(tokenizer, config.placeholder_token)
        self.query_token_id = _single_token_id(tokenizer, config.query_token) if config.query_token else None
        self.use_chat = bool(config.chat_template and getattr(tokenizer, "chat_template", None))
        self.pieces: dict[int, _Pieces | None] = {}

    def render(self, query: str, count: int) -> str:
        """The prompt text for ``count`` passages (chat-wrapped when configured and available)."""
        config = self.config
        passages = config.passage_separator.join(
            config.passage_template.format(index=i + 1, placeholder=config.placeholder_token) for i in range(count)
        )
        text = config.prompt_template.format(passages=passages, query=self.query_text(query))
        if self.use_chat:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        return text

    def query_text(self, query: str) -> str:
        """The query as the prompt holds it: reserved tokens blanked, so a query cannot inject a slot, and cut to
        ``max_passage_tokens`` tokens, as the encoder cuts it (one 40,000-token query held a server's reader for minutes)."""
        for reserved in (self.config.placeholder_token, self.config.query_token):
            if reserved:
                query = query.replace(reserved, " ")
        ids = self.tokenizer(query, add_special_tokens=False)["input_ids"]
        return query if len(ids) <= self.config.max_passage_tokens else self.tokenizer.decode(ids[:self.config.max_passage_tokens])

    def build(self, query: str, count: int) -> Prompt:
        """The whole prompt rendered and tokenized: what :meth:`build_many` must equal."""
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

    def build_many(self, queries: Sequence[str], counts: Sequence[int]) -> list[Prompt]:
        """One tokenizer call for every query whose count splits cleanly; the others tokenized whole."""
        for count in dict.fromkeys(counts):
            if count not in self.pieces:
                self.pieces[count] = self._split(count)
        pieces = [self.pieces[count] for count in counts]
        todo = [i for i, p in enumerate(pieces) if p is not None]
        middles = self._tokenize([pieces[i].tail + self.query_text(queries[i]) + pieces[i].rest for i in todo])  # type: ignore[union-attr]
        built = {i: Prompt(pieces[i].lead + middle + pieces[i].trail, pieces[i].slots) for i, middle in zip(todo, middles)}  # type: ignore[union-attr]
        return [built[i] if i in built else self.build(queries[i], counts[i]) for i in range(len(queries))]

    def _split(self, count: int) -> _Pieces | None:
        text = self.render(SENTINEL, count)
        at = text.find(SENTINEL)
        cut = text.rfind(self.config.placeholder_token, 0, at) + len(self.config.placeholder_token)
        if text.count(SENTINEL) != 1 or cut < len(self.config.placeholder_token):
            return _whole(count, "the query does not appear once after the passages")
        tail, rest = text[cut:at], text[at + len(SENTINEL):]
        full = self.build(PROBES[2], count).ids
        (middle,) = self._tokenize([tail + self.query_text(PROBES[2]) + rest])
        start = next((s for s in range(len(full) - len(middle), -1, -1) if full[s:s + len(middle)] == middle), None)
        if start is None:
            return _whole(count, "the query's tokens are not a run of the prompt's")
        lead, trail = full[:start], full[start + len(middle):]
        pieces = _Pieces(lead, tail, rest, trail, [i for i, token in enumerate(lead) if token == self.placeholder_id])
        for probe in PROBES:
            expected = self.build(probe, count)
            if lead + self._tokenize([tail + self.query_text(probe) + rest])[0] + trail != expected.ids or pieces.slots != expected.slots:
                return _whole(count, f"probe {probe!r} tokenizes differently in pieces")
        return pieces

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


def _whole(count: int, reason: str) -> None:
    log.info("prompt for %d passages tokenized whole per query (%s)", count, reason)


def _single_token_id(tokenizer: Any, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids([token])
    if len(ids) != 1 or ids[0] is None or ids[0] == tokenizer.unk_token_id:
        raise ResrankError(f"reranker tokenizer has no single token {token!r}")
    return int(ids[0])
