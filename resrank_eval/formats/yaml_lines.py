"""YAML whose mappings remember the line of each key, so config errors can point at ``file:line``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from .text import read_text


class LineMapping(dict):
    """A YAML mapping that remembers its own line and the line of each key."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line: int | None = None
        self.lines: dict[str, int] = {}


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineMapping:
    seen: set[object] = set()
    for key_node, _ in node.value:  # YAML keeps the last of two equal keys; a config must not lose the first silently
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    mapping = LineMapping(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.lines = {str(loader.construct_object(k)): k.start_mark.line + 1 for k, _ in node.value}
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """The YAML document in ``path`` (None when empty); a missing file or bad YAML is an :class:`InputError`."""
    if not Path(path).exists():
        raise InputError(path, None, f"{what} does not exist")
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses: no mark, a position instead
            line, problem = text.count("\n", 0, exc.position) + 1, f"character {exc.character!r} is not allowed"
        else:
            line, problem = (mark.line + 1 if mark else None), str(getattr(exc, "problem", None) or exc)
        raise InputError(path, line, f"invalid YAML: {problem.splitlines()[0]}") from None


def line_of(mapping: Any, key: str | None = None) -> int | None:
    """The line of ``key`` in a loaded mapping (of the mapping itself without a key)."""
    if not isinstance(mapping, LineMapping):
        return None
    return mapping.lines.get(key, mapping.line) if key is not None else mapping.line
