"""Jobs: every file-writing command is one step, and this module alone decides what happens to it.

A :class:`Step` is a command's provenance (its effective arguments and its inputs by content,
:mod:`.provenance`), the files it writes, and the function that writes them. Run, it takes the
outputs' lock (another process making them is waited for, and named), then the outputs are

- **kept** when their record says they were made with this provenance and every file still has the
  size and SHA-256 the record lists;
- **refused**, in one line that ``--overwrite`` answers, when they were made otherwise (the first
  difference named), when a file changed since it was made (named), or when files lie there that
  no record explains;
- **made** when there is nothing yet, when a file is missing (nothing is deleted: the step writes its
  outputs again), or when an earlier make was interrupted. The record is written first as "making"
  and, with every output's size and digest, last.

A :class:`ShardedStep` finishes in units (queries, corpus chunks) kept in a results log
(:mod:`.formats.results_log`): killed, it resumes from the log; sharded (:mod:`.parallel`), each
shard completes its own log and the merge publishes what one process writes, from the logs alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import InputError, ResrankError
from .formats.atomic import atomic_write
from .formats.jsonl import read_json
from .formats.results_log import ResultsLog, partial_path
from .parallel import WHOLE, Job, Shard
from .provenance import RECORD_NAME, Provenance, file_digest

log = logging.getLogger(__name__)

T = TypeVar("T")
MADE, KEPT, SHARD_DONE = "made", "kept", "shard done"
_held: set[Path] = set()


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What running a step did: ``made`` (with the make's value), ``kept``, or ``shard done`` (waiting for the merge)."""

    status: str
    value: T | None = None

    @property
    def kept(self) -> bool:
        return self.status == KEPT


@dataclass(frozen=True)
class Outputs:
    """The files (or folders) a step writes, and where their record lies."""

    files: tuple[Path, ...]
    record: Path

    @classmethod
    def beside(cls, *files: str | Path) -> Outputs:
        """Files with their record beside the first: ``<run>.provenance.json``."""
        first = Path(files[0])
        return cls(tuple(Path(f) for f in files), first.with_name(first.name + "." + RECORD_NAME))

    @classmethod
    def folder(cls, folder: str | Path, *names: str) -> Outputs:
        """Files of one folder (or, without ``names``, every file in it), their record inside: ``<folder>/provenance.json``."""
        folder = Path(folder)
        return cls(tuple(folder / name for name in names) or (folder,), folder / RECORD_NAME)

    def listed(self) -> dict[str, Path]:
        """Every output file by its name relative to the record's folder (a folder output: each file in it)."""
        base, found = self.record.parent, {}
        for path in self.files:
            inside = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in inside:
                if file != self.record and not file.name.startswith("."):
                    found[os.path.relpath(file, base)] = file
        return found


@dataclass
class Step(Generic[T]):
    """One file-writing command: what makes it, what it makes, and ``make``, which writes every output (each atomically)."""

    provenance: Provenance
    outputs: Outputs
    make: Callable[[], T]

    def run(self, overwrite: bool = False) -> Outcome[T]:
        """Keep, refuse or make (see the module doc); ``overwrite`` makes the outputs again whatever lies there."""
        with locked(self.outputs.files[0]):
            if not overwrite and kept(self.provenance, self.outputs):
                return Outcome(KEPT)
            begin(self.provenance, self.outputs)
            with _unbegun_on_failure(self.outputs):
                value = self.make()
            seal(self.provenance, self.outputs)
        return Outcome(MADE, value)


@dataclass
class ShardedStep(Generic[T]):
    """A step that finishes in units logged as they finish: ``work`` appends the units a shard owns and has not done
    yet to its log and returns the log's end record; ``publish`` writes the outputs from every shard's complete log.
    ``workdir`` holds files the logs refer to (an encoding's chunks), removed with the logs once published."""

    provenance: Provenance
    outputs: Outputs
    log: Path
    work: Callable[[ResultsLog, Shard], dict[str, Any]]
    publish: Callable[[list[ResultsLog]], T]
    workdir: Path | None = None

    def run(self, overwrite: bool = False, job: Job | None = None) -> Outcome[T]:
        """Keep or refuse the outputs (decided once, by rank 0 under torchrun), else do this shard's units (resuming its
        log), then merge where the job merges: at once in one process, by rank 0 under torchrun, by ``merge`` for an array."""
        job = job or Job(WHOLE)

        def is_kept() -> bool:
            with locked(self.outputs.files[0]):
                return not overwrite and kept(self.provenance, self.outputs)

        if job.first("kept", is_kept):
            return Outcome(KEPT)
        path = shard_log(self.log, job.shard)
        with locked(path):
            results = self._resume(path, job.shard, overwrite)
            if results.end is None:
                results.complete(self.work(results, job.shard))
        if not job.finish("merge"):
            return Outcome(SHARD_DONE)
        return Outcome(MADE, merge(self.log, self.outputs, self.publish, self.workdir))

    def _resume(self, path: Path, shard: Shard, overwrite: bool) -> ResultsLog:
        """This shard's log: resumed when made with this provenance (refused when not), else a new one."""
        if overwrite:
            path.unlink(missing_ok=True)
            partial_path(path).unlink(missing_ok=True)
        found = ResultsLog.read(path)
        if found is None:
            return ResultsLog.start(path, {"provenance": self.provenance.to_dict(), "shard": shard.id, "num": shard.num})
        self.provenance.check(found.header.get("provenance"), path if found.end is not None else partial_path(path))
        if found.end is None and found.units:
            log.info("%s: resuming, %d units done already", partial_path(path), len(found.units))
        return found


def kept(provenance: Provenance, outputs: Outputs, remedy: str = "pass --overwrite to make it again") -> bool:
    """True when ``outputs`` were made with ``provenance`` and are unchanged; False when they must be made (none there, one
    missing, an interrupted make); an error, naming why and ending in ``remedy``, when they were made otherwise or changed since."""
    present = [path for path in outputs.files if path.exists()]
    if not present:
        return False
    record = read_record(outputs.record)
    if record is None:
        raise ResrankError(f"{present[0]}: exists, but no record says what made it ({outputs.record.name} is missing); {remedy}")
    provenance.check(record, present[0], remedy)
    if record.get("outputs") is None:
        log.warning("%s: an earlier run was interrupted while making these outputs; making them again", outputs.record)
        return False
    missing = _verify(outputs.record, record["outputs"], f"; {remedy}")
    if missing:
        log.warning("%s: missing; making the outputs of %s again", missing[0], outputs.record.name)
        return False
    return True


def verify(record_path: Path, what: str = "") -> None:
    """Raise unless every file ``record_path`` lists is there with its recorded size and digest (an input read from a folder a
    step made, such as a dense index); ``what`` says how to make it again."""
    record = read_record(record_path)
    if record is None or record.get("outputs") is None:
        raise ResrankError(f"{record_path.parent}: no complete record of its files ({record_path.name}){what}")
    missing = _verify(record_path, record["outputs"], what)
    if missing:
        raise ResrankError(f"{missing[0]}: missing{what}")


def _verify(record_path: Path, listed: dict[str, Any], what: str = "; pass --overwrite to make it again") -> list[Path]:
    """The listed files that are missing; a file whose size or digest differs from the record is an error naming it."""
    missing = []
    for name, recorded in listed.items():
        path = record_path.parent / name
        if not path.is_file():
            missing.append(path)
            continue
        size = path.stat().st_size
        if size != recorded["size"]:
            raise ResrankError(f"{path}: changed since it was made ({size} bytes, {record_path.name} says {recorded['size']}){what}")
        if file_digest(path) != recorded["sha256"]:
            raise ResrankError(f"{path}: changed since it was made (its content differs from what {record_path.name} records){what}")
    return missing


def begin(provenance: Provenance, outputs: Outputs) -> None:
    """Record that ``outputs`` are being made with ``provenance`` (an interrupted make is made again, not kept)."""
    _write_record(outputs.record, provenance, None)


@contextlib.contextmanager
def _unbegun_on_failure(outputs: Outputs) -> Iterator[None]:
    """A make that fails before writing any output leaves nothing behind, not even its "making" record."""
    try:
        yield
    except BaseException:
        if not any(path.exists() for path in outputs.files):
            outputs.record.unlink(missing_ok=True)
        raise


def seal(provenance: Provenance, outputs: Outputs) -> None:
    """Write the record of outputs just made: the provenance and every file's size and digest."""
    listed = outputs.listed()
    absent = [path for path in outputs.files if not path.exists()]
    if absent:
        raise ResrankError(f"{absent[0]}: the step did not write it")
    _write_record(outputs.record, provenance, {name: {"size": path.stat().st_size, "sha256": file_digest(path)}
                                               for name, path in listed.items()})


def read_record(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    record = read_json(path)
    if not isinstance(record, dict):
        raise InputError(path, None, "not a provenance record (command, version, arguments, inputs)")
    return record


def _write_record(path: Path, provenance: Provenance, outputs: dict[str, Any] | None) -> None:
    """The record: written with ``outputs`` None (making) before a make, with the outputs after."""
    with atomic_write(path) as handle:
        json.dump({**provenance.to_dict(), "outputs": outputs}, handle, indent=2)
        handle.write("\n")


# ----- sharded steps: logs and the merge -----


def shard_log(log_path: Path, shard: Shard) -> Path:
    """Shard ``i`` of ``n``'s complete log: ``RUN.shard-0000i-of-0000n.jsonl`` (one process: ``RUN.jsonl``)."""
    return log_path.with_name(f"{log_path.name}.jsonl" if shard.whole else f"{log_path.name}.{shard.label}.jsonl")


def merge(log_path: Path, outputs: Outputs, publish: Callable[[list[ResultsLog]], T], workdir: Path | None = None) -> T:
    """Publish the outputs from every shard's complete log (all made with one provenance), record them, then drop the logs
    (and ``workdir``, the files they refer to)."""
    with locked(outputs.files[0]):
        logs = read_shard_logs(log_path)
        provenance = Provenance.from_dict(logs[0].header["provenance"], logs[0].path)
        begin(provenance, outputs)
        with _unbegun_on_failure(outputs):
            value = publish(logs)
        seal(provenance, outputs)
        for results in logs:
            results.path.unlink()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return value


def read_shard_logs(log_path: Path) -> list[ResultsLog]:
    """Every shard's complete log, in shard order; missing, foreign or duplicated shards are one-line errors."""
    paths = _shard_log_paths(log_path)
    if not paths:
        raise ResrankError(f"{log_path}: no finished shard to merge ({log_path.name}.shard-*-of-*.jsonl)")
    logs = [ResultsLog.read(path) for path in paths]
    first = logs[0]
    assert first is not None
    num = first.header.get("num")
    for path, results in zip(paths, logs):
        assert results is not None
        shard = Shard(int(results.header.get("shard", -1)), int(results.header.get("num", 0))) if results.header.get("num") else None
        if shard is None or path != shard_log(log_path, shard):
            raise ResrankError(f"{path}: holds {'no shard' if shard is None else shard.label}, not what its name says "
                               f"(copied or renamed?); delete it and run that shard again")
        if shard.num != num:
            raise ResrankError(f"{path}: a shard of {shard.num}, the others of {num}; delete the shards of the other split")
        difference = Provenance.from_dict(results.header["provenance"], path).difference(
            Provenance.from_dict(first.header["provenance"], first.path))
        if difference is not None:
            raise ResrankError(f"{path}: another job than {first.path.name} ({first.path.name} {difference}); run this shard again with "
                               f"--overwrite")
    done = {results.header["shard"] for results in logs if results is not None}
    missing = sorted(set(range(num)) - done)
    if missing:
        raise ResrankError(f"{log_path}: shard(s) {', '.join(map(str, missing))} of {num} not finished yet")
    return [results for results in logs if results is not None]


def logged_command(log_path: Path) -> str:
    """The command a sharded step's logs come from (read from the first shard's header line)."""
    first = next(iter(_shard_log_paths(log_path)), None)
    if first is None:
        raise ResrankError(f"{log_path}: no finished shard to merge ({log_path.name}.shard-*-of-*.jsonl)")
    with open(first, encoding="utf-8") as handle:
        try:
            return str(json.loads(handle.readline())["provenance"]["command"])
        except (ValueError, KeyError, TypeError):
            raise InputError(first, 1, "not a results log's header") from None


def units(logs: list[ResultsLog]) -> list[dict[str, Any]]:
    """Every shard's units in one-process order (by ``position``); a unit in two shards is an error naming both."""
    where: dict[int, Path] = {}
    found = []
    for results in logs:
        for unit in results.units:
            position = int(unit["position"])
            if position in where:
                raise ResrankError(f"{results.path}: unit {position} is in {where[position].name} too (duplicated shards?); "
                                   f"delete one and run that shard again")
            where[position] = results.path
            found.append(unit)
    return sorted(found, key=lambda unit: int(unit["position"]))


def _shard_log_paths(log_path: Path) -> list[Path]:
    whole = shard_log(log_path, WHOLE)
    return [whole] if whole.is_file() else sorted(p for p in log_path.parent.glob(f"{log_path.name}.shard-*-of-*.jsonl")
                                                  if not p.name.endswith(".partial.jsonl"))


# ----- locks -----


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Hold ``target``'s lock (a hidden ``.<name>.lock`` beside it) for the block; another process holding it is waited
    for, and named. Reentrant within a process; the lock file is removed on release."""
    target = Path(target).absolute()
    if target in _held:
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(f".{target.name}.lock")
    descriptor = _acquire(lock, target)
    _held.add(target)
    try:
        yield
    finally:
        _held.discard(target)
        lock.unlink(missing_ok=True)
        os.close(descriptor)


def _acquire(lock: Path, target: Path) -> int:
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: waiting for %s, which is making it", target, _holder(descriptor))
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(descriptor).st_ino:  # not a lock file its holder removed meanwhile
                os.ftruncate(descriptor, 0)
                holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
                os.write(descriptor, json.dumps(holder).encode())
                return descriptor
        os.close(descriptor)


def _holder(descriptor: int) -> str:
    """Who holds a lock, as its holder wrote it."""
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        return f"process {holder['pid']} on {holder['host']} (`{holder['command']}`, since {holder['since']})"
    except (ValueError, KeyError, TypeError, OSError):
        return "another process"
