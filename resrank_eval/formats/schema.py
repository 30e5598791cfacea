"""Dataclasses from untyped values (YAML, JSON, keyword arguments), strictly: every key known, every value typed, every
key without a default present.

Generic over any dataclass: a field's type hint says what a value must be (a float must be finite: NaN slips past every
range check), and its ``metadata`` may add ``choices``, ``min`` (at least), ``max`` (at most)
and ``above`` (strictly more than). The training config (from YAML, errors at ``file:line``), the
ResRank model config (from ``resrank.json`` or from Python), and the file digests a step's record or a model's manifest
lists are all checked here, by one path.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

from ..errors import InputError, ResrankError
from .yaml_lines import line_of


def check(instance: Any, what: str) -> None:
    """Check (and normalise, e.g. an int where a float belongs) the fields of a dataclass built in Python."""
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        value = _convert(hints[field.name], getattr(instance, field.name), field.metadata, None, f"{what}: {field.name}", None)
        object.__setattr__(instance, field.name, value)


def _error(path: str | Path | None, line: int | None, message: str) -> ResrankError:
    """At ``file:line`` when the values came from a file, else a plain one-line error."""
    return InputError(path, line, message) if path is not None else ResrankError(message)


def build(cls: type, raw: Any, path: str | Path | None, where: str, line: int | None = None) -> Any:
    """An instance of dataclass ``cls`` from ``raw``; ``where`` is the dotted key path, for errors."""
    if not isinstance(raw, dict):
        raise _error(path, line, f"{where or 'config'}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        name = f"{where}.{key}" if where else str(key)
        where_key = line_of(raw, key) or line  # a YAML key's own line, else the line the mapping came from (a JSONL line)
        if key not in fields:
            raise _error(path, where_key, f"unknown key {name!r}; known: {', '.join(fields)}")
        values[key] = _convert(hints[key], value, fields[key].metadata, path, name, where_key)
    missing = [n for n, f in fields.items()
               if n not in raw and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _error(path, line, f"missing key {(f'{where}.' if where else '') + missing[0]!r}")
    return cls(**values)


def parse(hint: Any, raw: Any, path: str | Path | None, name: str) -> Any:
    """``raw`` as type ``hint`` (a dataclass, ``dict[str, SomeDataclass]``, a union with None), as strictly as a field of
    :func:`build`; ``name`` is what errors call the value."""
    return _convert(hint, raw, {}, path, name, None)


def _same_kind(hint: Any, value: Any) -> bool:
    """Whether ``value`` is of the kind a union member expects (numbers for float; mappings for dicts and dataclasses)."""
    if isinstance(value, bool) or hint is bool:
        return hint is bool and isinstance(value, bool)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 1e-4 as a string: its range error, not another option's
        return _number(value) is not None
    kinds = {int: int, float: (int, float), str: str, list: list, dict: dict}
    kind = kinds.get(typing.get_origin(hint) or hint, dict if dataclasses.is_dataclass(hint) else None)
    return kind is not None and isinstance(value, kind)


def _convert(hint: Any, value: Any, meta: Any, path: str | Path | None, name: str, line: int | None) -> Any:
    def fail(expected: str) -> ResrankError:
        return _error(path, line, f"{name}: expected {expected}, got {value!r}")

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:  # the option the value's own type picks reports its range errors, not a later option's type error
            if _same_kind(option, value):
                return _convert(option, value, meta, path, name, line)
        for option in options[:-1]:
            try:
                return _convert(option, value, meta, path, name, line)
            except ResrankError:
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
        number = _number(value)
        if number is None:
            raise fail("a number")
        if not math.isfinite(number):
            raise fail("a finite number")
        value = number
    elif hint is str:
        if not isinstance(value, str):
            raise fail("a string")
    if "choices" in meta and value not in meta["choices"]:
        raise fail(f"one of {', '.join(meta['choices'])}")
    if "min" in meta and value < meta["min"]:
        raise fail(f">= {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise fail(f"<= {meta['max']}")
    if "above" in meta and not value > meta["above"]:
        raise fail(f"> {meta['above']}")
    return value


def _number(value: Any) -> float | None:
    """A number, or a string spelling one (YAML 1.1 reads 1e-4 as a string), as a float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None
    except OverflowError:  # an int beyond every float
        return math.inf
