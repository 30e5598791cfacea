"""JSON and JSON Lines reading with errors that name the file, line and column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from .text import iter_lines, read_text


def parse_json_line(path: str | Path, lineno: int, line: str) -> Any:
    """One JSON Lines record; a syntax error names its line and column."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record) for every non-blank line of a (gzipped) JSONL file."""
    for lineno, line in iter_lines(path):
        if line.strip():
            yield lineno, parse_json_line(path, lineno, line)


def read_json(path: str | Path) -> Any:
    """A whole (gzipped) JSON document; a syntax error names its line and column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
