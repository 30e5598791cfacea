"""Reading text files: the one place bytes become lines, so every reader follows the same rules.

UTF-8, with a byte-order mark that starts a line dropped: editors on Windows write one, and glued to
the first qid it silently loses that query. It starts a later line where ``cat a.tsv b.tsv`` joined two
such files, and there too it is the second file's encoding mark, never part of an id; one inside a line
is kept (it is text there). ``*.gz`` is gunzipped. ``\\r\\n`` and a lone ``\\r`` (old Mac files) end a line
like ``\\n``, as they do for Python's universal newlines and Pyserini's Java readers, so a line number
means the same line there. Every failure -- a missing or unreadable file, bytes that are not UTF-8, a
truncated or corrupt gzip stream -- is an :class:`InputError` at ``file:line`` rather than a traceback,
and lines are decoded one by one so that line is exact.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import InputError

BOM = "\ufeff"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def open_bytes(path: str | Path) -> IO[bytes]:
    """The file's bytes, gunzipped when its name ends in ``.gz``; an unreadable file is an :class:`InputError`."""
    try:
        return gzip.open(path, "rb") if Path(path).suffix == ".gz" else open(path, "rb")
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) for every line of a (gzipped) UTF-8 file."""
    lineno = 0
    with open_bytes(path) as handle:
        try:
            for raw in handle:  # ends at b"\n" only; a UTF-8 character never holds a \r or \n byte, so split here
                for line in raw.removesuffix(b"\n").removesuffix(b"\r").split(b"\r"):
                    lineno += 1
                    yield lineno, _decode(path, lineno, line)
        except _GZIP_ERRORS as exc:
            raise InputError(path, lineno + 1, f"broken gzip data: {_gzip_reason(exc)}") from None
        except OSError as exc:
            raise InputError(path, lineno + 1, f"cannot read: {exc.strerror or exc}") from None


def read_text(path: str | Path) -> str:
    """The whole file as one string (each line ended by ``\\n``), with :func:`iter_lines`' checks."""
    return "".join(line + "\n" for _, line in iter_lines(path))


def _decode(path: str | Path, lineno: int, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, lineno, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    return text.removeprefix(BOM)


def _gzip_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the file is truncated"
    return str(exc) or type(exc).__name__
