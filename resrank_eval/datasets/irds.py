"""``irds:<name>``: topics, qrels and passages read through ir_datasets -- online training sources.

For training lists at MS MARCO scale (``build-train --dataset irds:msmarco-passage/train/judged``):
ir_datasets downloads a collection on first use (MS MARCO passage: about 1 GB) into
``IR_DATASETS_HOME`` and reads passages from its own docstore afterwards. Offline, with no copy
there, that download fails; the failure becomes one :class:`ResrankError` line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ResrankError
from ..formats.ids import FirstSeen, check_id
from ..formats.topics import add_query, check_query
from ..formats.trec import add_judgment
from ..types import Passage, Qrels, Query
from .dataset import BEIR_MEASURES, Dataset

PREFIX = "irds:"
SPLITS = ("train", "dev", "validation", "test")
T = TypeVar("T")


@dataclass(frozen=True)
class IrdsDataset(Dataset):
    """A Dataset whose parts come from ``ir_datasets.load(name)``; scored like a BEIR set (binary at level 1)."""

    @classmethod
    def named(cls, name: str, split: str) -> IrdsDataset:
        """Its split is the one its name says (``irds:beir/nfcorpus/test``: test, whatever ``split`` says, as the name
        picks the queries), else ``split``: so training refuses a test set named so, and model selection too."""
        said = [part for part in name.removeprefix(PREFIX).split("/") if part in SPLITS]
        return cls(name, None, None, 1, BEIR_MEASURES, None, False, None, said[-1] if said else split)

    @property
    def irds_name(self) -> str:
        return self.name.removeprefix(PREFIX)

    def topics(self) -> dict[str, Query]:
        """Held to the topic file readers' rules (:func:`check_query`, :func:`add_query`): a blank text, a lone surrogate, a
        bad qid or one given twice is refused here, not read (a later duplicate's text replacing the first)."""
        topics: dict[str, Query] = {}
        seen = FirstSeen()
        queries = self._read("queries", lambda ds: [(q.query_id, q.default_text()) for q in ds.queries_iter()])
        for entry, (qid, text) in enumerate(queries, 1):
            try:
                add_query(topics, seen, check_query(qid, text), f"entry {entry}")
            except ValueError as exc:
                raise self._bad_entry("queries", entry, str(exc)) from None
        return topics

    def qrels(self) -> Qrels:
        """Held to the qrels file reader's rules (:func:`check_id`, :func:`add_judgment`): a passage judged twice for one query
        is refused here, not read (a later label replacing the first), and so is a bad id: ``d\u200b1`` would match no
        ``d1``, and a run or qrels line written with ``q 1`` would be refused when read back."""
        qrels: Qrels = {}
        judgments = self._read("qrels", lambda ds: [(q.query_id, q.doc_id, q.relevance) for q in ds.qrels_iter()])
        for entry, (query_id, doc_id, relevance) in enumerate(judgments, 1):
            try:
                qid, docid = check_id(query_id, "qid"), check_id(doc_id, "docid")
            except ValueError as exc:
                raise self._bad_entry("qrels", entry, str(exc)) from None
            try:
                add_judgment(qrels, qid, docid, int(relevance))
            except ValueError as exc:
                first = next(n for n, judgment in enumerate(judgments, 1) if judgment[:2] == (query_id, doc_id))
                raise self._bad_entry("qrels", entry, f"{exc} (first at entry {first})") from None
        return qrels

    def _bad_entry(self, part: str, entry: int, error: str) -> ResrankError:
        """The error for its ``part``'s ``entry``-th query or judgment (from 1, in ir_datasets' order: for most datasets, the
        line of the file it reads), where a file reader's names ``path:line``."""
        return ResrankError(f"{self.name}: its {part}: entry {entry}: {error}")

    @property
    def has_passages(self) -> bool:
        return True

    def passages(self, docids: Collection[str] | None = None) -> dict[str, str]:
        if docids is None:
            return self._read("passages", lambda ds: {d.doc_id: _passage(d) for d in ds.docs_iter()})
        found = self._read("passages", lambda ds: ds.docs_store().get_many(list(docids)))
        missing = set(docids) - found.keys()
        if missing:
            raise ResrankError(f"{self.name}: {len(missing)} run docids are not in its corpus, e.g. {sorted(missing)[0]!r}")
        return {docid: _passage(doc) for docid, doc in found.items()}

    def sources(self) -> dict[str, str]:
        where = f"ir_datasets {self.irds_name} (network on first use)"
        return {"topics": where, "qrels": where, "corpus": where}

    def _read(self, part: str, read: Callable[[Any], T]) -> T:
        import ir_datasets

        try:
            dataset = ir_datasets.load(self.irds_name)
        except KeyError:
            raise ResrankError(f"{self.name}: ir_datasets knows no dataset {self.irds_name!r} (see ir-datasets.com)") from None
        try:
            return read(dataset)
        except OSError as exc:  # requests' ConnectionError and friends; ir_datasets has logged the details above
            raise ResrankError(f"{self.name}: ir_datasets could not download its {part} ({type(exc).__name__}); `irds:` "
                               "datasets need the network on first use, or their files under IR_DATASETS_HOME") from None


def _passage(doc: Any) -> str:
    """An ir_datasets document as the BEIR corpus reader gives it: title and text apart where the docs have both (its BEIR
    docs), so the prompts that show a title get it; ``default_text()`` joins them ("title text", and " text" for an empty
    title). Docs without a title (MS MARCO passages) are their ``default_text()``, the text."""
    title, text = getattr(doc, "title", None), getattr(doc, "text", None)
    if isinstance(title, str) and isinstance(text, str):
        return Passage(title, text)
    return doc.default_text()
