"""A results log: work in progress that resumes after a kill and cannot be edited unnoticed.

One format for every job that finishes in units (a rerank's or a dense retrieval's queries, an
encoding's corpus chunks): a header line (what the job is: its provenance, its shard), then one line
per finished unit, appended as it finishes. Every line carries ``"#"``, a hash chain: the SHA-256 of
the previous line's ``"#"`` and this line's content, so an edited, inserted, removed or reordered line
breaks the chain at that line. A job killed mid-write leaves at most a torn last line (no newline yet),
which is dropped, and said so. A finished log ends with an ``"end"`` line and is renamed from
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

log = logging.getLogger(__name__)

CHAIN, END = "#", "end"
REDO = "delete the file or pass `overwrite`"


@dataclass
class ResultsLog:
    """A log's header, its finished units in order, and (once complete) its end record; a new one is written with its first
    unit, so a job that fails before one leaves no file."""

    path: Path
    header: dict[str, Any]
    units: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    _chain: str = ""

    @classmethod
    def read(cls, path: Path) -> ResultsLog | None:
        """The complete log ``path`` or, failing that, its partial one, every line checked; None when there is neither.

        A torn last line of a partial log is dropped (and cut off the file, so appending continues cleanly); anything
        else that does not verify is an :class:`InputError` at its line.
        """
        source = path if path.is_file() else partial_path(path)
        if not source.is_file():
            return None
        data = source.read_bytes()
        lines = data.split(b"\n")
        if lines[-1] and source != path:
            log.warning("%s:%d: dropped a torn last line (the job was killed while writing it)", source, len(lines))
            os.truncate(source, len(data) - len(lines[-1]))
        found: ResultsLog | None = None
        for lineno, line in enumerate(lines[:-1], 1):
            try:
                record = json.loads(line)
                claimed = record.pop(CHAIN)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise InputError(source, lineno, f"not a results-log line; {REDO}") from None
            if found is None:
                found = cls(path, record)
            try:
                intact = claimed == found._link(record)
            except ValueError:  # NaN or infinity, which _append never writes
                intact = False
            if not intact:
                raise InputError(source, lineno, f"changed after it was written (its checksum chain breaks here); {REDO}")
            if lineno > 1 and END in record:
                found.end = record[END]
            elif lineno > 1:
                found.units.append(record)
        if found is None and source != path:  # nothing but a torn line
            source.unlink()
            return None
        if found is None or (source == path and found.end is None):
            raise InputError(source, None, f"an empty or unfinished results log under a finished one's name; {REDO}")
        return found

    def add(self, unit: dict[str, Any]) -> None:
        """Append one finished unit."""
        self._append(unit)
        self.units.append(unit)

    def complete(self, end: dict[str, Any]) -> None:
        """Close the log with ``end`` and give it its final name."""
        self._append({END: end})
        os.replace(partial_path(self.path), self.path)
        self.end = end

    def _append(self, record: dict[str, Any]) -> None:
        partial = partial_path(self.path)
        records = [record] if partial.exists() else [self.header, record]
        text = "".join(json.dumps({**r, CHAIN: self._link(r)}, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
        try:
            with open(partial, "a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise ResrankError(f"{partial}: cannot be written ({exc.strerror or exc})") from None

    def _link(self, record: dict[str, Any]) -> str:
        """The chain after ``record``, which becomes the chain: SHA-256 of the chain so far and the record's canonical JSON."""
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self._chain = hashlib.sha256((self._chain + text).encode("utf-8")).hexdigest()[:32]
        return self._chain


def partial_path(path: Path) -> Path:
    """``RUN.shard-00000-of-00002.jsonl`` -> ``RUN.shard-00000-of-00002.partial.jsonl``."""
    return path.with_name(path.name.removesuffix(".jsonl") + ".partial.jsonl")
