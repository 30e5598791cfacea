"""What produced an output: a command's effective arguments and every input it read, by content.

A :class:`Provenance` is a command's effective arguments (defaults filled in), a fingerprint of every
input it read (file bytes; a model folder's config and weights; a run or topics held in memory, by
content, queries in order) and the resrank-eval version. The job layer (:mod:`.jobs`) stores it with
the digests of the outputs it made, and keeps or resumes a step only when a new command's provenance
has no difference from the stored one; the first difference is named in words (``made with --top-k
100, now 20``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, ResrankError
from .formats.jsonl import read_json
from .formats.schema import parse
from .version import __version__

RECORD_NAME = "provenance.json"
"""The record in a folder a step made (:mod:`.jobs`): its provenance and every file's size and digest."""

_digests: dict[tuple[str, int, int, int], str] = {}


@dataclass(frozen=True)
class FileDigest:
    """A file's size and SHA-256 (hex), as a step's record lists each output and a model's manifest each file."""

    size: int = field(metadata={"min": 0})
    sha256: str


def read_digests(raw: Any, path: Path, name: str) -> dict[str, FileDigest]:
    """``raw`` (a record's ``outputs``, a manifest's ``files``: file name -> size and digest) typed; any other shape is
    one error naming ``path`` and what in it is wrong, never a crash where a file is checked."""
    return parse(dict[str, FileDigest], raw, path, name)


@dataclass(frozen=True)
class Provenance:
    """One output's making: ``arguments`` compare by value, ``inputs`` by fingerprint (``sources`` only say where they were)."""

    command: str
    arguments: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    version: str = __version__

    @classmethod
    def of(cls, command: str, arguments: Mapping[str, Any], inputs: Mapping[str, Any] | None = None,
           sources: Mapping[str, str | Path | None] | None = None) -> Provenance:
        """A record from ``arguments`` (JSON values) and ``inputs``: a path that exists is fingerprinted by content,
        one that does not (a preset, a hub id) counts as a plain argument, any other value (a run, topics) by its JSON,
        a mapping's keys in their order (a sharded step's units are a run's or topics' queries in order: shards that read
        them in different orders are different jobs). ``sources`` names the files such values were read from (a run's
        file): where they were, as a path input's is."""
        values, prints = dict(arguments), {}
        where = {name: str(path) for name, path in (sources or {}).items() if path is not None}
        for name, value in (inputs or {}).items():
            if value is None:
                values.setdefault(name, None)
            elif isinstance(value, (str, Path)):
                if Path(value).exists():
                    prints[name], where[name] = fingerprint(value), str(value)
                else:
                    values[name] = str(value)
            else:
                prints[name] = content_fingerprint(list(value.items()) if isinstance(value, Mapping) else value)
        return cls(command, json.loads(json.dumps(values, default=str)), prints, where)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "version": self.version, "arguments": self.arguments, "inputs": self.inputs,
                "sources": self.sources}

    @classmethod
    def from_dict(cls, data: Any, where: str | Path) -> Provenance:
        try:
            return cls(str(data["command"]), dict(data["arguments"]), dict(data["inputs"]), dict(data.get("sources", {})),
                       str(data["version"]))
        except (KeyError, TypeError, ValueError):
            raise InputError(where, None, "not a provenance record (command, version, arguments, inputs)") from None

    def digest(self) -> str:
        """A short stable hash of the record: a cache key that changes whenever any part of it does."""
        return content_fingerprint({k: v for k, v in self.to_dict().items() if k != "sources"}).removeprefix("sha256:")[:16]

    def difference(self, recorded: Provenance) -> str | None:
        """How ``recorded`` differs from this one (the first difference, in words), or None."""
        if recorded.command != self.command:
            return f"made by {recorded.command!r}, not {self.command!r}"
        for name in dict.fromkeys([*self.arguments, *self.inputs, *recorded.arguments, *recorded.inputs]):
            old, new = recorded._identity(name), self._identity(name)
            if old == new:
                continue
            if old[0] == new[0] == "value":
                return f"made with {option_name(name)} {_shown(old[1])}, now {_shown(new[1])}"
            was, now = recorded._shown_input(name), self._shown_input(name)
            where = "" if was is None or now is None else f" ({was})" if was == now else f" (was {was}, now {now})"
            return f"made from a different {option_name(name)}{where}: its content differs"
        if recorded.version != self.version:
            return f"made by resrank-eval {recorded.version}, this is {self.version}"
        return None

    def _identity(self, name: str) -> tuple[str, Any]:
        return ("input", self.inputs[name]) if name in self.inputs else ("value", self.arguments.get(name))

    def _shown_input(self, name: str) -> str | None:
        """Where an input came from (a path, or the name given); None for content held in memory from no named file."""
        return self.sources.get(name) if name in self.inputs else _shown(self.arguments.get(name))

    def check(self, recorded: Any, where: str | Path, remedy: str = "pass `overwrite` to start over") -> None:
        """Raise a one-line error (ending in ``remedy``) unless ``recorded`` (a stored record) is this provenance."""
        difference = self.difference(Provenance.from_dict(recorded, where))
        if difference is not None:
            raise ResrankError(f"{where}: {difference}; {remedy}")


def flat_arguments(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``section.key`` -> value (list items by index), so a difference names the key that changed."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flat_arguments(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            flat.update(flat_arguments({str(i): v for i, v in enumerate(value)}, f"{name}."))
        else:
            flat[name] = value
    return flat


def option_name(name: str) -> str:
    """An argument as a message names it: marked (`` `top_k` ``, which the CLI writes as its flag, see
    :class:`~resrank_eval.errors.ResrankError`); config keys (``stages.0.lr``) and positional arguments (``run 1``) as they are."""
    return f"`{name}`" if name.isidentifier() else name


def fingerprint(path: str | Path) -> str:
    """``sha256:`` of a file's bytes, or of a folder's files (relative names and bytes).

    A folder a step made is identified by the digests its record lists (checked where the folder is read,
    :func:`~resrank_eval.jobs.verify`), a Lucene index by its commit point (``segments_*``, which names every segment by
    a unique id): an index's gigabytes are not re-read.
    """
    path = Path(path)
    if not path.exists():
        raise ResrankError(f"{path}: does not exist")
    if path.is_file():
        return "sha256:" + file_digest(path)
    record = read_json(path / RECORD_NAME) if (path / RECORD_NAME).is_file() else None
    if isinstance(record, dict) and isinstance(record.get("outputs"), dict):
        return content_fingerprint(record["outputs"])
    files = sorted(path.glob("segments_*")) or sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" + file_digest(file).encode())
    return "sha256:" + digest.hexdigest()


def content_fingerprint(value: Any) -> str:
    """``sha256:`` of a value's JSON: an in-memory run or topics, by content."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes, memoised per (path, size, mtime, ctime) within the process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if key not in _digests:
        with open(path, "rb") as handle:
            _digests[key] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _digests[key]


def _shown(value: Any) -> str:
    return "(not given)" if value is None else json.dumps(value) if not isinstance(value, str) else value
