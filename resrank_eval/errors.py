"""Errors the CLI turns into one-line messages and a non-zero exit code."""

from __future__ import annotations

import re
from collections.abc import Callable
from numbers import Integral
from pathlib import Path


class ResrankError(Exception):
    """A user-facing error: bad input, missing resources, unusable configuration. Its message marks each argument it names
    with backticks, by its Python name (`` `top_k` ``, `` `overwrite` ``): Python callers read the name unmarked, the CLI
    the flag that carries it (:meth:`naming`), so neither reads the other's."""

    MARK = re.compile(r"`([A-Za-z_]\w*)`")

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.naming(str))

    def naming(self, write: Callable[[str], str]) -> str:
        """The message with each marked argument written as ``write(name)``."""
        return self.MARK.sub(lambda match: write(match[1]), self.template)


class InputError(ResrankError):
    """Malformed input, located at ``path:line`` so the user can open the file at the culprit."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ArgumentError(ResrankError):
    """A bad argument value, the arguments at fault marked in its message."""


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (third-party messages run to pages), else its type's name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_count(value: object, what: str, least: int = 1, none_ok: bool = False) -> None:
    """An integer >= ``least`` (or None where ``none_ok``), else a one-line error naming the argument ``what``: the one
    check of the counts the Python API takes (``top_k``, ``batch_size``), which the CLI checks as it parses."""
    if not (value is None and none_ok) and (isinstance(value, bool) or not isinstance(value, Integral) or value < least):
        name = f"`{what}`" if what.isidentifier() else what  # a description ("encoder batch size") names no argument
        raise ArgumentError(f"{name} must be an integer >= {least}{' or None' if none_ok else ''}, got {value!r}")
