"""Rerankers by name: the registry's read side.

Importing this module registers the built-in rerankers; their modules load torch, transformers or
an HTTP client only when a reranker is built, so listing them (``rerank --help``) stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError, ResrankError
from .base import REGISTRY, Option, Reranker


def rerankers() -> dict[str, type[Reranker]]:
    """Every registered reranker, the built-in ones first."""
    from . import generative, identity, resrank  # noqa: F401  (registration happens on import)

    return dict(REGISTRY)


def reranker_options() -> dict[str, tuple[Option, list[str]]]:
    """Each option any reranker declares, with the names of the rerankers that take it."""
    merged: dict[str, tuple[Option, list[str]]] = {}
    for name, cls in rerankers().items():
        for option in cls.options:
            merged.setdefault(option.name, (option, []))[1].append(name)
    return merged


@dataclass(frozen=True)
class RerankerFactory:
    """A reranker's class and its checked option values (defaults filled in): all that is known before any model loads.

    What a rerank step records (:mod:`.sink`) and calls when it has something to rerank, so "check before
    loading" has one home: :func:`reranker_factory`.
    """

    cls: type[Reranker]
    options: dict[str, Any]

    def build(self) -> Reranker:
        """Load the model (if any) and make the reranker."""
        return self.cls.from_options(**self.options)


def load_reranker(name: str, **values: Any) -> Reranker:
    """Build a registered reranker from option values, e.g. ``load_reranker("resrank", model="mini")``; options the reranker
    does not declare are an error (see :func:`reranker_factory`)."""
    return reranker_factory(name, **values).build()


def reranker_factory(name: str, **values: Any) -> RerankerFactory:
    """The class and a value for each of its options, checked without loading anything (so mistakes cost no load time).

    Options the reranker does not declare are an error (they would be silently ignored otherwise); ``None`` means
    "not given", so declared defaults fill in; the reranker's own :meth:`~.base.Reranker.check_options` runs last.
    """
    known = rerankers()
    if name not in known:
        raise ResrankError(f"unknown reranker {name!r}; choose one of {', '.join(known)}")
    cls = known[name]
    declared = {o.name: o for o in cls.options}
    foreign = [key for key, value in values.items() if value is not None and key not in declared]
    if foreign:
        takes = ", ".join(f"`{o.name}`" for o in cls.options) or "no options"
        raise ArgumentError(f"`{foreign[0]}` does not apply to reranker {name!r} (it takes {takes})")
    filled = {key: option.default if values.get(key) is None else values[key] for key, option in declared.items()}
    for option in cls.options:
        if option.required and filled[option.name] is None:
            raise ArgumentError(f"reranker {name!r} needs `{option.name}`: {option.help}")
    if filled.get("device") is not None:  # an unknown device, or one this machine lacks (cuda without a GPU, mps off a Mac)
        from ..model.loading import resolve_device  # torch, imported only when needed

        resolve_device(filled["device"])
    cls.check_options(filled)
    return RerankerFactory(cls, filled)
