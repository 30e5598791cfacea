"""YAML into dataclasses, strictly: every key known, every value typed, every error at its line.

Reading the file and ``--set`` overrides live here; turning the values into the dataclasses of
:mod:`.config` is the package's one schema checker, :func:`resrank_eval.formats.schema.build`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..formats.schema import build
from ..formats.yaml_lines import LineMapping, load_yaml

__all__ = ["apply_override", "build", "read_yaml"]


def read_yaml(path: Path) -> dict:
    """The YAML mapping in ``path``, its mappings remembering their keys' lines."""
    raw = load_yaml(path, "config file")
    if raw is None:
        return LineMapping()
    if not isinstance(raw, dict):
        raise InputError(path, 1, "a training config is a YAML mapping")
    return raw


def override_origin(item: str) -> str:
    """Where an error puts an override's value, which never came from a line of the file: ``overrides a.b=value`` in
    Python, ``--set a.b=value`` on the CLI (the argument marked, see :class:`~resrank_eval.errors.ResrankError`)."""
    return f"`overrides` {item}"


def apply_override(raw: dict, item: str) -> Any:
    """``a.b=value`` sets ``raw["a"]["b"]``; a number indexes a list (``stages.0.steps=10``).

    Returns the override alone as a config of its own (the list items before it empty), which the caller checks where an
    error names :func:`override_origin`.
    """
    def error(message: str) -> InputError:
        return InputError(override_origin(item), None, message)

    key, sep, value = item.partition("=")
    if not sep or not key:
        raise error("expected key.path=value")
    parts = key.split(".")
    node: Any = raw
    trail: list[tuple[Any, str]] = []
    for depth, part in enumerate(parts, 1):
        if isinstance(node, list) and not (part.isdigit() and int(part) < len(node)):
            raise error(f"{part!r} is not an index of a {len(node)}-item list")
        if not isinstance(node, (dict, list)):
            raise error(f"{part!r} is not inside a section")
        trail.append((node, part))
        if depth < len(parts):  # a parent: step into it (made where missing)
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, LineMapping())
    leaf = parts[-1]
    try:
        alone = node[int(leaf) if isinstance(node, list) else leaf] = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML value: {str(getattr(exc, 'problem', None) or exc).splitlines()[0]}") from None
    for holder, part in reversed(trail):
        alone = [*({} if isinstance(v, dict) else v for v in holder[: int(part)]), alone] if isinstance(holder, list) else {part: alone}
    return alone
