"""The reranker interface: a new reranker is one subclass of :class:`Reranker`, and nothing else.

A subclass that sets ``name`` registers itself under that name, and declares the construction
arguments it takes as :class:`Option` s; the CLI builds ``rerank --reranker`` and its options from
the registry, and :func:`~resrank_eval.rerank.load_reranker` builds one by name. A reranker
receives one batch of rankings whose candidates carry their passage text and returns, for each,
the new order with scores plus a :class:`~resrank_eval.types.QueryStats` of its cost. Batching,
top-k cutting, text lookup and file output belong to the caller (``rerank.pipeline``, ``rerank.sink``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ResrankError
from ..types import Candidate, QueryStats, Ranking


@dataclass
class Reranked:
    """One query's reranked top-k (best first, scores decreasing), what it cost, and -- from generative rerankers --
    one record per model call (what was sent and answered), which ``rerank`` writes to ``RUN.trace.jsonl``."""

    candidates: list[Candidate]
    stats: QueryStats
    trace: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Option:
    """A construction argument of a reranker: ``--dense-index`` on the CLI, ``dense_index=`` in Python.

    ``kind`` is ``str``, ``int``, ``float``, ``bool`` or a tuple of allowed strings. Rerankers that
    take the same option share one declaration, so the CLI shows it once.
    """

    name: str
    default: Any = None
    help: str = ""
    kind: Any = str
    required: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# The options several rerankers take (one declaration each, so the CLI shows each once).
MODEL = Option("model", None, "ResRank checkpoint dir / preset (resrank, encoder), or a causal LM id, folder or smollm2 "
               "(rankgpt, first; the served model name with --api-base).", required=True)
DEVICE = Option("device", None, "torch device (default: cuda if available).")
DTYPE = Option("dtype", "auto", "Weights' dtype; auto = bf16 on CUDA, fp32 on CPU.", ("auto", "bf16", "fp16", "fp32"))


REGISTRY: dict[str, type[Reranker]] = {}
"""Reranker name -> class, filled by subclassing (see :meth:`Reranker.__init_subclass__`)."""


class Reranker(ABC):
    """Reorders each query's candidates; ``name`` becomes the default run tag and the stats' reranker field."""

    name: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            _register(cls)

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        """Raise :class:`ResrankError` on option values that cannot work, loading nothing (called before :meth:`from_options`)."""
        return None  # nothing to check unless a reranker says otherwise

    @classmethod
    def check_passages(cls, values: dict[str, Any], source: Mapping[str, str | Path], docids: Collection[str],
                       texts: Callable[[Collection[str]], Mapping[str, str]]) -> None:
        """Raise :class:`ResrankError` unless option values fit the passages a rerank reads (``source``: where they come
        from, by option name; ``texts``: the texts of ``docids``, its candidates); called before a rerank step runs."""
        return None  # nothing to check unless a reranker says otherwise

    def check_rankings(self, rankings: Sequence[Ranking]) -> None:
        """:meth:`check_passages` for a reranker already built, whose passages come from memory (``rankings``' candidates'
        texts); called by ``pipeline.iter_rerank`` before the first batch, not by a step, which checked before it loaded."""
        return None  # nothing to check unless a reranker says otherwise

    @classmethod
    def from_options(cls, **values: Any) -> Reranker:
        """Build from a value for every declared option (defaults filled in); the constructor by default."""
        return cls(**values)

    @abstractmethod
    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        """Rerank one batch of queries together (candidates carry ``text``); one result per ranking, same order."""


def _register(cls: type[Reranker]) -> None:
    """Add ``cls`` under its name; a second class under a taken name is an error, a re-imported one replaces it."""
    known = REGISTRY.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ResrankError(f"reranker name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}")
    for option in cls.options:
        for other in REGISTRY.values():
            same = next((o for o in other.options if o.name == option.name), None)
            if other is not known and same is not None and (same.default, same.kind) != (option.default, option.kind):
                raise ResrankError(f"reranker {cls.name!r}: option {option.name!r} differs from {other.name!r}'s")
    REGISTRY[cls.name] = cls
