"""Errors the CLI turns into one-line messages and a non-zero exit code."""

from __future__ import annotations

from numbers import Integral
from pathlib import Path


class ResrankError(Exception):
    """A user-facing error: bad input, missing resources, unusable configuration."""


class InputError(ResrankError):
    """Malformed input, located at ``path:line`` so the user can open the file at the culprit."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (third-party messages run to pages), else its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_count(value: object, what: str, least: int = 1, none_ok: bool = False) -> None:
    """An integer >= ``least`` (or None where ``none_ok``), else a one-line error naming the argument ``what``: the one
    check of the counts the Python API takes (``top_k``, ``batch_size``), which the CLI checks as it parses."""
    if not (value is None and none_ok) and (isinstance(value, bool) or not isinstance(value, Integral) or value < least):
        raise ResrankError(f"{what} must be an integer >= {least}{' or None' if none_ok else ''}, got {value!r}")
