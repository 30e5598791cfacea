"""A passage as one string in a candidate file, and the rule that a docid has one text throughout the file.

A titled passage (:class:`~resrank_eval.types.Passage`) is one string in a RankGPT hit's ``content``, in the form
RankGPT's ``run_retriever`` writes a BEIR document: ``Title: <title> Content: <body>`` (RankGPT's prompts show it so,
and rank_llm's prompts show its ``{"title", "text"}`` documents so; the plain ``<title> <body>`` would prompt RankGPT's
code without the title). Reading takes that form apart again, so export and import give back the same title and body:
a content that starts with ``Title: `` and holds `` Content: `` is split at the first `` Content: `` (a title that
itself holds one is cut there, the rest read as body; the prompts, which join both parts again, show the same bytes
either way), and RankGPT's empty-title form ``Title: Content: <body>`` is the body alone. Any other content is the
text as it is.
"""

from __future__ import annotations

from ..types import Passage
from .ids import FirstSeen

TITLE, CONTENT = "Title: ", " Content: "
UNTITLED = "Title: Content: "
"""RankGPT's whitespace-normalised form of an empty title, which its prompts drop."""


def hit_content(text: str) -> str:
    """A hit's ``content``: ``Title: <title> Content: <body>`` for a passage with a title, as RankGPT writes it; else the text."""
    if isinstance(text, Passage) and text.title:
        return TITLE + text.title + CONTENT + text.body
    return text


def content_text(content: str) -> str:
    """The passage a hit's ``content`` holds: the title form read back as a :class:`Passage` (the module says how)."""
    if content.startswith(UNTITLED):
        return content.removeprefix(UNTITLED)
    title, separator, body = content.removeprefix(TITLE).partition(CONTENT)
    return Passage(title, body) if content.startswith(TITLE) and separator else content


class PassageTexts:
    """Each docid's text, one per file wherever the docid appears: a reranker reads one text per docid (the passage map),
    so a docid listed with another text elsewhere, compared as :func:`hit_content` writes both, is refused, not overwritten."""

    def __init__(self, passages: dict[str, str]) -> None:
        self.passages, self._first = passages, FirstSeen()

    def add(self, docid: str, text: str, where: str) -> None:
        """Record ``text`` as ``docid``'s, read at ``where``; ``ValueError`` names where a different text was read first."""
        first = self._first.add(docid, where)
        if first is not None and hit_content(self.passages[docid]) != hit_content(text):
            raise ValueError(f"docid {docid!r} has a different text than at {first}")
        self.passages[docid] = text
