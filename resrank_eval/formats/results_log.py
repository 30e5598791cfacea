"""A results log: work in progress that resumes after a kill and cannot be edited unnoticed.

One format for every job that finishes in units (a rerank's or a dense retrieval's queries, an
encoding's corpus chunks): a header line (what the job is: its provenance, its shard), then one line
per finished unit, appended as it finishes. Every line carries ``"#"``, a hash chain: the SHA-256 of
the previous line's ``"#"`` and this line's content, so an edited, inserted, removed or reordered line
breaks the chain at that line. A job killed mid-write leaves at most a torn last line, which is
dropped (and said so). A finished log ends with an ``"end"`` line and is renamed from
``*.partial.jsonl`` to ``*.jsonl``: a complete log is one that exists under its final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ResrankError
from .text import iter_lines

log = logging.getLogger(__name__)

CHAIN = "#"
END = "end"


@dataclass
class ResultsLog:
    """A log's header, its finished units in order, and (once complete) its end record."""

    path: Path
    header: dict[str, Any]
    units: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    _chain: str = ""

    @property
    def partial(self) -> Path:
        """Where the log is written until it is complete."""
        return partial_path(self.path)

    @classmethod
    def start(cls, path: str | Path, header: dict[str, Any]) -> ResultsLog:
        """A new, empty log of ``path`` (written with its first unit, so a job that fails before one leaves no file)."""
        started = cls(Path(path), header)
        started._chain = _link("", header)
        return started

    @classmethod
    def read(cls, path: str | Path) -> ResultsLog | None:
        """A complete log (``path``) or a partial one (``path``'s ``.partial.jsonl``), every line checked; None when there
        is neither (or a partial one with nothing but a torn line, which is removed).

        A torn last line of a partial log is dropped (and cut off the file, so appending continues cleanly);
        anything else that does not verify is an :class:`InputError` at its line.
        """
        path = Path(path)
        source = path if path.is_file() else partial_path(path)
        if not source.is_file():
            return None
        read: ResultsLog | None = None
        lines = list(iter_lines(source))
        kept_bytes = 0
        for lineno, line in lines:
            try:
                record = json.loads(line)
                claimed = record.pop(CHAIN)
            except (ValueError, KeyError, TypeError, AttributeError):
                if lineno == len(lines) and source != path and not _ends_with_newline(source):
                    log.warning("%s:%d: dropped a torn last line (the job was killed while writing it)", source, lineno)
                    _truncate(source, kept_bytes)
                    break
                raise InputError(source, lineno, "not a results-log line; delete the file or pass --overwrite") from None
            expected = _link(read._chain if read is not None else "", record)
            if claimed != expected:
                raise InputError(source, lineno, "changed after it was written (its checksum chain breaks here); "
                                                 "delete the file or pass --overwrite")
            if read is None:
                read = cls(path, record, _chain=expected)
            elif END in record:
                read.end = record[END]
            else:
                read.units.append(record)
            read._chain = expected
            kept_bytes += len((line + "\n").encode("utf-8"))
        if read is None and source != path:
            source.unlink()
            return None
        if read is None:
            raise InputError(source, 1, "empty results log; delete it or pass --overwrite")
        if source == path and read.end is None:
            raise InputError(path, None, "a complete results log without its end line; delete it or pass --overwrite")
        return read

    def add(self, unit: dict[str, Any]) -> None:
        """Append one finished unit (the header first, with the first unit)."""
        lines = [] if self.partial.exists() else [_line(self.header, _link("", self.header))]
        self._chain = _link(self._chain, unit)
        lines.append(_line(unit, self._chain))
        _append(self.partial, lines)
        self.units.append(unit)

    def complete(self, end: dict[str, Any]) -> None:
        """Close the log with ``end`` and give it its final name."""
        lines = [] if self.partial.exists() else [_line(self.header, _link("", self.header))]
        self._chain = _link(self._chain, {END: end})
        lines.append(_line({END: end}, self._chain))
        _append(self.partial, lines)
        os.replace(self.partial, self.path)
        self.end = end


def partial_path(path: str | Path) -> Path:
    """``RUN.shard-00000-of-00002.jsonl`` -> ``RUN.shard-00000-of-00002.partial.jsonl``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".partial.jsonl")


def _link(previous: str, record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256((previous + text).encode("utf-8")).hexdigest()[:32]


def _line(record: dict[str, Any], chain: str) -> str:
    if CHAIN in record:
        raise ResrankError(f"a results-log record may not use the key {CHAIN!r}")
    return json.dumps({**record, CHAIN: chain}, ensure_ascii=False, allow_nan=False) + "\n"


def _append(path: Path, lines: list[str]) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
    except OSError as exc:
        raise ResrankError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
