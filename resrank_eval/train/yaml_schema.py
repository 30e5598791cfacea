"""YAML into dataclasses, strictly: every key known, every value typed, every error at its line.

Generic over the dataclasses of :mod:`.config`: a field's type hint says what a value must be, and
its ``metadata`` may add ``choices`` and ``min``. Errors are :class:`InputError` at ``file:line``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..formats.yaml_lines import LineMapping, line_of, load_yaml


def read_yaml(path: Path) -> dict:
    """The YAML mapping in ``path``, its mappings remembering their keys' lines."""
    raw = load_yaml(path, "config file")
    if raw is None:
        return LineMapping()
    if not isinstance(raw, dict):
        raise InputError(path, 1, "a training config is a YAML mapping")
    return raw


def apply_override(raw: dict, item: str, path: Path) -> None:
    """``a.b=value`` sets raw["a"]["b"]; a number indexes a list (``stages.0.steps=10``)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise InputError(path, None, f"override {item!r} is not key.path=value")
    *parents, leaf = key.split(".")
    node: Any = raw
    for part in [*parents, leaf]:
        if isinstance(node, list) and not (part.isdigit() and int(part) < len(node)):
            raise InputError(path, None, f"override {item!r}: {part!r} is not an index of a {len(node)}-item list")
        if not isinstance(node, (dict, list)):
            raise InputError(path, None, f"override {item!r}: {part!r} is not inside a section")
        if part == leaf:
            break
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, LineMapping())
    node[int(leaf) if isinstance(node, list) else leaf] = yaml.safe_load(value)


def build(cls: type, raw: Any, path: Path, where: str, line: int | None = None) -> Any:
    """An instance of dataclass ``cls`` from ``raw``; ``where`` is the dotted key path, for errors."""
    if not isinstance(raw, dict):
        raise InputError(path, line, f"{where or 'config'}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise InputError(path, line_of(raw, key), f"unknown key {name!r}; known: {', '.join(fields)}")
        values[key] = _convert(hints[key], value, fields[key].metadata, path, name, line_of(raw, key))
    return cls(**values)


def _convert(hint: Any, value: Any, meta: Any, path: Path, name: str, line: int | None) -> Any:
    def fail(expected: str) -> InputError:
        return InputError(path, line, f"{name}: expected {expected}, got {value!r}")

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            try:
                return _convert(option, value, meta, path, name, line)
            except InputError:
                pass
        return _convert(options[-1], value, meta, path, name, line)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path, name, line)
    if origin is list:
        if not isinstance(value, list):
            raise fail("a list")
        if typing.get_origin(args[0]) is None and dataclasses.is_dataclass(args[0]):
            return [build(args[0], v, path, f"{name}[{i}]", line_of(v) or line) for i, v in enumerate(value)]
        return [_convert(args[0], v, {}, path, f"{name}[{i}]", line) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        return {str(k): _convert(args[1], v, meta, path, f"{name}.{k}", line_of(value, k)) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail("an integer")
    elif hint is float:
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads 1e-4 as a string
            except ValueError:
                raise fail("a number") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise fail("a number")
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise fail("a string")
    if "choices" in meta and value not in meta["choices"]:
        raise fail(f"one of {', '.join(meta['choices'])}")
    if "min" in meta and value < meta["min"]:
        raise fail(f">= {meta['min']}")
    return value
