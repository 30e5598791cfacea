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
from ..formats.ids import check_id
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
        topics: dict[str, Query] = {}
        for query_id, text in self._read("queries", lambda ds: [(q.query_id, q.default_text()) for q in ds.queries_iter()]):
            qid = self._id("queries", query_id, "qid")
            topics[qid] = Query(qid, text)
        return topics

    def qrels(self) -> Qrels:
        qrels: Qrels = {}
        for qrel in self._read("qrels", lambda ds: list(ds.qrels_iter())):
            qid, docid = self._id("qrels", qrel.query_id, "qid"), self._id("qrels", qrel.doc_id, "docid")
            qrels.setdefault(qid, {})[docid] = int(qrel.relevance)
        return qrels

    def _id(self, part: str, value: object, what: str) -> str:
        """An id ir_datasets gave, held to the rule every file reader applies (:func:`check_id`): ``d\u200b1`` would match
        no ``d1``, and a run or qrels line written with ``q 1`` would be refused when read back."""
        try:
            return check_id(value, what)
        except ValueError as exc:
            raise ResrankError(f"{self.name}: its {part}: {exc}") from None

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
