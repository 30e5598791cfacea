"""Prompts assembled from pre-tokenized pieces: only the query is tokenized per call.

:class:`PromptBuilder` renders the whole prompt (chat template included) and tokenizes ~150 tokens for
every query. Here the prompt for ``count`` passages is rendered once with a sentinel query and split
at the last placeholder: everything up to it is tokenized once (the placeholder is a special token,
so the tokenizer never merges across it), and per call only ``tail + query + rest`` is tokenized.
Each template is checked against :class:`PromptBuilder` on probe queries (spaces, unicode, special
tokens) before use; a tokenizer or chat template that breaks the split (a prefix space added to
every segment, a template that trims the content) falls back to the builder, so ids always match.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .prompt import Prompt, PromptBuilder

log = logging.getLogger(__name__)

SENTINEL = "\u2060resrank-query\u2060"
PROBES = ("", " ", "what causes fever?", "  leading and trailing  ", "Ünïcödé — “quotes” 中文 ½",
          "line\nbreak\ttab", "::punct:: (a) [b] {c}", "<|im_end|> <|endoftext|> </s> [SEP]", "x" * 40)


@dataclass(frozen=True)
class Template:
    """The fixed token ids around one count's per-call text: ``lead + tokenize(tail + query + rest) + trail``."""

    lead: list[int]
    tail: str
    rest: str
    trail: list[int]
    slots: list[int]


class PromptAssembler:
    """Same ids as ``PromptBuilder.build``; the template of each passage count is built and checked once."""

    def __init__(self, builder: PromptBuilder) -> None:
        self.builder = builder
        self.tokenizer = builder.tokenizer
        self.templates: dict[int, Template | None] = {}

    def build(self, query: str, count: int) -> Prompt:
        return self.build_many([query], [count])[0]

    def build_many(self, queries: Sequence[str], counts: Sequence[int]) -> list[Prompt]:
        """One tokenizer call for all queries whose count has a checked template; the rest via the builder."""
        templates = [self.template(count) for count in counts]
        todo = [i for i, t in enumerate(templates) if t is not None]
        texts = [templates[i].tail + self.builder.query_text(queries[i]) + templates[i].rest for i in todo]  # type: ignore[union-attr]
        middles = self._tokenize(texts) if texts else []
        prompts: list[Prompt | None] = [None] * len(queries)
        for i, middle in zip(todo, middles):
            template = templates[i]
            assert template is not None
            prompts[i] = Prompt(template.lead + middle + template.trail, template.slots)
        return [p if p is not None else self.builder.build(queries[i], counts[i]) for i, p in enumerate(prompts)]

    def template(self, count: int) -> Template | None:
        if count not in self.templates:
            self.templates[count] = self._make(count)
        return self.templates[count]

    def _make(self, count: int) -> Template | None:
        text = self.builder.render(SENTINEL, count)
        placeholder = self.builder.config.placeholder_token
        at = text.find(SENTINEL)
        cut = text.rfind(placeholder, 0, at) + len(placeholder)
        if text.count(SENTINEL) != 1 or cut < len(placeholder):
            return self._give_up(count, "the query does not appear once after the passages")
        tail, rest = text[cut:at], text[at + len(SENTINEL):]
        full = self.builder.build(PROBES[2], count).ids
        middle = self._tokenize([tail + self.builder.query_text(PROBES[2]) + rest])[0]
        start = next((s for s in range(len(full) - len(middle), -1, -1) if full[s:s + len(middle)] == middle), None)
        if start is None:
            return self._give_up(count, "the query's tokens are not a run of the prompt's")
        lead, trail = full[:start], full[start + len(middle):]
        slots = [i for i, token in enumerate(lead) if token == self.builder.placeholder_id]
        template = Template(lead, tail, rest, trail, slots)
        for probe in PROBES:
            expected = self.builder.build(probe, count)
            got = lead + self._tokenize([tail + self.builder.query_text(probe) + rest])[0] + trail
            if got != expected.ids or slots != expected.slots:
                return self._give_up(count, f"probe {probe!r} tokenizes differently in pieces")
        return template

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    @staticmethod
    def _give_up(count: int, reason: str) -> None:
        log.info("pre-tokenized prompt for %d passages not used (%s); tokenizing whole prompts", count, reason)

