"""JSON Lines reading with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError
from .atomic import open_text


def parse_json_line(path: str | Path, lineno: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, lineno, f"invalid JSON: {exc.msg}") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record) for every non-blank line of a (gzipped) JSONL file."""
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                yield lineno, parse_json_line(path, lineno, line)
