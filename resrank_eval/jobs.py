"""Jobs: every file-writing command is one step, and this module alone decides what happens to it.

A :class:`Step` is a command's provenance (its effective arguments and its inputs by content,
:mod:`.provenance`), the files it writes, and the function that writes them. Run, it takes the outputs'
lock (another process making them is waited for, and named), then the outputs are

- **kept** when their record says they were made with this provenance and every file still has the
  size and SHA-256 the record lists;
- **refused**, in one line that ``--overwrite`` answers, when they were made otherwise (the first
  difference named), when a file changed since it was made (named), or when no record explains them;
- **made** when there is nothing yet, when a file is missing (nothing is deleted: the step writes its
  outputs again) or an earlier make was interrupted. The record says "making" during a make and lists
  every output's size and digest after it.

A :class:`ShardedStep` finishes in units (queries, corpus chunks) kept in a results log
(:mod:`.formats.results_log`): killed, it resumes from its log; sharded (:mod:`.parallel`), each shard
completes its own log and the merge publishes what one process writes, from the logs alone.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import ArgumentError, InputError, ResrankError
from .formats.atomic import atomic_write, locked
from .formats.ids import FirstSeen
from .formats.jsonl import read_json
from .formats.results_log import ResultsLog, partial_path
from .parallel import WHOLE, Job, Shard
from .provenance import RECORD_NAME, FileDigest, Provenance, file_digest, read_digests
from .types import Candidate, Run

log = logging.getLogger(__name__)

T = TypeVar("T")
MADE, KEPT, SHARD_DONE, MERGED = "made", "kept", "shard done", "merged already"
REDO = "pass `overwrite` to make it again"
NOTHING_LEFT = "no shard is left to merge: make it again, passing `overwrite` to the command that made it"


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What running a step did: ``made`` (with the make's value), ``kept``, or ``shard done`` (waiting for the merge); what a
    merge did: ``made``, ``kept`` (made so already), or ``merged already`` (no shard left, the outputs as recorded)."""

    status: str
    value: T | None = None

    @property
    def kept(self) -> bool:
        return self.status == KEPT


@dataclass(frozen=True)
class Outputs:
    """The files (or folders: every file in them) a step writes, and its record."""

    files: tuple[Path, ...]
    record: Path
    optional: tuple[Path, ...] = ()
    """Files a make may or may not write (a generative rerank's trace): recorded when there."""

    @classmethod
    def beside(cls, *files: str | Path, optional: tuple[Path, ...] = ()) -> Outputs:
        """Files with their record beside the first: ``<run>.provenance.json``."""
        return cls(tuple(map(Path, files)), Path(f"{files[0]}.{RECORD_NAME}"), optional)

    @classmethod
    def folder(cls, folder: str | Path, *names: str) -> Outputs:
        """Files of one folder (or, without ``names``, the folder), their record inside: ``<folder>/provenance.json``."""
        return cls(tuple(Path(folder) / name for name in names) or (Path(folder),), Path(folder) / RECORD_NAME)

    def check(self, provenance: Provenance) -> None:
        """Refused first: an output that is an input (:func:`check_apart`), two outputs that are one file (:func:`check_distinct`),
        a folder where a file goes (fails at its rename)."""
        check_apart(provenance.sources.values(), self.files)
        check_distinct((*self.files, *self.optional, self.record))
        for path in (*self.files, *self.optional, self.record):
            if path != self.record.parent and path.is_dir():
                raise ResrankError(f"{path}: a folder, where this command writes a file; move it or write the output elsewhere")

    def present(self) -> list[Path]:
        """Every output file there is (a folder's: every file in it), the record, temp and lock files aside."""
        return [f for path in (*self.files, *self.optional) for f in (sorted(path.rglob("*")) if path.is_dir() else [path])
                if f.is_file() and f != self.record and not f.name.startswith(".")]

    def digests(self) -> dict[str, dict[str, Any]]:
        """Size and SHA-256 of every output file, by its name relative to the record's folder."""
        return {os.path.relpath(f, self.record.parent): {"size": f.stat().st_size, "sha256": file_digest(f)} for f in self.present()}

    def states(self) -> dict[Path, tuple[int, int, int]]:
        """Each output file's inode, size and modification time: a make that writes a file changes one of them (an atomic
        write, its inode), so equal states before and after mean it wrote none."""
        states = {}
        for path in self.present():
            stat = path.stat()
            states[path] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        return states


@dataclass
class Step(Generic[T]):
    """One file-writing command: what makes it, what it makes, and ``make``, which writes every output (each atomically)."""

    provenance: Provenance
    outputs: Outputs
    make: Callable[[], T]

    def run(self, overwrite: bool = False, job: Job | None = None) -> Outcome[T]:
        """Keep, refuse or make (see the module doc); ``overwrite`` makes the outputs again whatever lies there."""
        if job is not None and not job.shard.whole:
            raise ArgumentError("sharding applies to dense retrieval, encode and rerank; this runs in one process (use `threads`)")
        self.outputs.check(self.provenance)
        with locked(self.outputs.files[0]):
            if not overwrite and kept(self.provenance, self.outputs):
                return Outcome(KEPT)
            return Outcome(MADE, _making(self.provenance, self.outputs, self.make))


@dataclass(frozen=True)
class Merge(Generic[T]):
    """How a sharded step's logs become its outputs (its job's merge, or ``resrank-eval merge``'s): ``publish`` writes them
    from every shard's complete log; ``workdir`` holds files the logs refer to (an encoding's chunks)."""

    log: Path
    outputs: Outputs
    publish: Callable[[list[ResultsLog]], T]
    workdir: Path | None = None

    def run(self, overwrite: bool = False, whole: bool = False) -> Outcome[T]:
        """Publish and record the outputs from every shard's log (one provenance; ``whole``: the one process's log, whose step
        checked its outputs under the lock it holds throughout), then drop the logs and ``workdir``. Outputs already there
        are kept (the logs, of exactly this job, dropped all the same) or refused as a step's (``overwrite``: replaced) before
        any shard is required: a merge killed while dropping the logs leaves some, and its outputs are kept by the logs left.
        With no shard left, outputs that verify against their record are merged already (a merge run again)."""
        outputs = self.outputs
        with locked(outputs.files[0]):
            settled = whole or overwrite  # replaced, or checked already by the step of the one process
            record = None if settled or finished_shards(self.log) else read_record(outputs.record)
            if record is not None and record["outputs"] is not None and not verify(outputs, NOTHING_LEFT):
                return Outcome(MERGED)
            provenance, logs = read_shard_logs(self.log, whole)
            if not settled and kept(provenance, outputs):
                outcome: Outcome[T] = Outcome(KEPT)
            else:
                check_every_shard(self.log, logs)
                outcome = Outcome(MADE, _making(provenance, outputs, lambda: self.publish(logs)))
            for results in logs:  # left, they would be merged again, or refused beside the logs of a later job of another split
                results.path.unlink()
            if self.workdir is not None:  # what the logs refer to (an encoding's chunks): nothing refers to it any more
                shutil.rmtree(self.workdir, ignore_errors=True)
        return outcome


@dataclass
class ShardedStep(Generic[T]):
    """A step that finishes in units: ``work`` appends the units a shard owns and its log lacks, and returns the log's end
    record; ``merge`` publishes the outputs from the shards' logs."""

    provenance: Provenance
    work: Callable[[ResultsLog, Shard], dict[str, Any]]
    merge: Merge[T]

    @property
    def outputs(self) -> Outputs:
        return self.merge.outputs

    def run(self, overwrite: bool = False, job: Job | None = None) -> Outcome[T]:
        """Keep or refuse the outputs, else do this shard's units (resuming its log), then merge where the job merges: at
        once in one process (which holds the outputs' lock throughout), by rank 0 under torchrun, by ``resrank-eval merge``
        for a job array."""
        job = job or Job(WHOLE)
        self.outputs.check(self.provenance)
        with locked(self.outputs.files[0]) if job.shard.whole else contextlib.nullcontext():
            with locked(self.outputs.files[0]):
                if not overwrite and kept(self.provenance, self.outputs):
                    return Outcome(KEPT)
            path = shard_log(self.merge.log, job.shard)
            with locked(path):
                if overwrite:
                    path.unlink(missing_ok=True)
                    partial_path(path).unlink(missing_ok=True)
                found = ResultsLog.read(path) or ResultsLog(path, {"provenance": self.provenance.to_dict(), "shard": job.shard.id,
                                                                   "num": job.shard.num})
                where = path if found.end is not None else partial_path(path)
                self.provenance.check(found.header.get("provenance"), where)
                if (found.header.get("shard"), found.header.get("num")) != (job.shard.id, job.shard.num):
                    raise InputError(where, 1, f"its header names another shard than {job.shard.id} of {job.shard.num}; delete it or pass `overwrite`")
                if found.end is None:
                    if found.units:
                        log.info("%s: resuming, %d units done already", partial_path(path), len(found.units))
                    found.complete(self.work(found, job.shard))
            if not job.finish():
                return Outcome(SHARD_DONE)
            return self.merge.run(overwrite, job.shard.whole)


def check_apart(inputs: Iterable[str | Path], outputs: Iterable[str | Path]) -> None:
    """No output is a file or folder the command reads, or one that is there inside an input folder, or a folder that holds
    an input, by any name (a relative path, a symlink, a hard link): writing it would replace what is being read, or
    ``--overwrite`` would (a folder is made again whole). A step's inputs are its provenance's sources."""
    read = {Path(path) for path in inputs if _identity(path) is not None}
    for path in map(Path, outputs):
        if path.exists() and {_identity(source) for source in read} & _within(path):
            raise ResrankError(f"{path}: is also an input of this command; write the output elsewhere")
        held = next((source for source in read if path.is_dir() and _identity(path) in _within(source)), None)
        if held is not None:
            raise ResrankError(f"{path}: holds {held}, an input of this command; write the output elsewhere")


def check_distinct(outputs: Iterable[Path]) -> None:
    """No two outputs are one file, by any name (a relative path, a symlink, a hard link): the one written last would be all
    that is left of both (``import-candidates`` with its passage store or topics named as its run, or as the record)."""
    seen = FirstSeen()
    for path in outputs:
        first = seen.add(_identity(path) or path.resolve(), str(path))
        if first is not None:
            alias = "" if first == str(path) else f" (also as {first})"
            raise ResrankError(f"{path}: named for two outputs of this command{alias}; give each output a path of its own")


def _identity(path: str | Path) -> tuple[int, int] | None:
    """The file ``path`` names, whatever the name (device and inode); None where there is none yet."""
    with contextlib.suppress(OSError):
        stat = os.stat(path)
        return stat.st_dev, stat.st_ino
    return None


def _within(path: Path) -> set[tuple[int, int] | None]:
    """``path`` and every folder it lies in, by identity."""
    return {_identity(where) for where in (path, *path.resolve().parents)}


def kept(provenance: Provenance, outputs: Outputs, remedy: str = REDO) -> bool:
    """True when ``outputs`` were made with ``provenance`` and are unchanged; False when they must be made (none there, one
    missing, an interrupted make); an error, naming why and ending in ``remedy``, when made otherwise or changed since."""
    present = [path for path in outputs.files if path.exists()]
    record = read_record(outputs.record)
    if not present:
        if record is not None and Provenance.from_dict(record, outputs.record).command != provenance.command:
            provenance.check(record, outputs.record.parent, remedy)  # a folder another command made is not taken over
        if record is not None and record["outputs"] is not None:  # a record of made outputs, all gone: say so
            log.warning("%s: missing; making the outputs of %s again", outputs.files[0], outputs.record.name)
        return False
    if record is None:
        raise ResrankError(f"{present[0]}: exists, but no record says what made it ({outputs.record.name} is missing); {remedy}")
    provenance.check(record, present[0], remedy)
    if record["outputs"] is None:
        log.warning("%s: an earlier run was interrupted while making these outputs; making them again", outputs.record)
        return False
    missing = verify(outputs, remedy)
    if missing:
        log.warning("%s: missing; making the outputs of %s again", missing[0], outputs.record.name)
    return not missing


def verify(outputs: Outputs, remedy: str = REDO, missing_ok: bool = True) -> list[Path]:
    """The outputs that are missing: files the record lists that are gone, and ``outputs`` it does not list that are not
    there (asked for now, never made). A file whose size or digest differs from the record, an output there that the record
    does not list (a record vouches only for what it lists: one listing none would keep anything), or no complete record,
    is an error naming it, ending in ``remedy``; so is the first missing one unless ``missing_ok``. Also how a folder a step
    made is checked where it is read (whole: none may be missing)."""
    record_path = outputs.record
    record = read_record(record_path)
    if record is None or record["outputs"] is None:
        raise ResrankError(f"{record_path.parent}: no complete record of its files ({record_path.name}); {remedy}")
    listed: dict[str, FileDigest] = record["outputs"]
    missing = []
    for name, recorded in listed.items():
        path = record_path.parent / name
        if not path.is_file():
            missing.append(path)
        elif path.stat().st_size != recorded.size:
            raise ResrankError(f"{path}: changed since it was made ({path.stat().st_size} bytes, {record_path.name} says "
                               f"{recorded.size}); {remedy}")
        elif file_digest(path) != recorded.sha256:
            raise ResrankError(f"{path}: changed since it was made (its content differs from what {record_path.name} records); {remedy}")
    for path in (*outputs.files, *(path for path in outputs.optional if path.exists())):
        name = os.path.relpath(path, record_path.parent)  # as digests() names it; a folder's files lie under it
        if name in listed or any(name == os.curdir or listed_name.startswith(f"{name}/") for listed_name in listed):
            continue
        if path.exists():
            unlisted = "lists none of its files" if path.is_dir() else "does not list it"
            raise ResrankError(f"{path}: exists, but {record_path.name} {unlisted}; {remedy}")
        missing.append(path)
    if missing and not missing_ok:
        raise ResrankError(f"{missing[0]}: missing; {remedy}")
    return missing


def check_made(path: Path, *made_with: Path) -> None:
    """Refuse ``path`` where a step made it -- its record beside a file (``<path>.provenance.json``), inside a folder
    (``<folder>/provenance.json``) -- and it, or a file made with it (a rerank's stats and summary, ``made_with``: each one
    there), changed since, is not in the record, or the make never finished: it is read as that step's output. A folder is
    read whole (a Lucene index), so a file its record lists is also refused missing. A file or folder made by hand or by
    another tool has no record and is read as it is."""
    folder = path.is_dir()
    outputs = Outputs.folder(path) if folder else Outputs.beside(path, *(file for file in made_with if file.exists()))
    if outputs.record.exists():
        remedy = f"make it again, or delete {outputs.record.name} to read it as a {'folder' if folder else 'file'} of your own"
        verify(outputs, remedy, missing_ok=not folder)


def begin(provenance: Provenance, outputs: Outputs) -> None:
    """Record that ``outputs`` are being made with ``provenance`` (an interrupted make is made again, never kept)."""
    _write_record(outputs.record, provenance, None)


def seal(provenance: Provenance, outputs: Outputs) -> None:
    """Record outputs just made: the provenance and every file's size and digest."""
    absent = [path for path in outputs.files if not path.exists()]
    if absent:
        raise ResrankError(f"{absent[0]}: the step did not write it")
    _write_record(outputs.record, provenance, outputs.digests())


def read_record(path: Path) -> dict[str, Any] | None:
    """A record (a step's, a checkpoint's ``state.json``), or None where there is none; its ``outputs`` typed (None: a make
    under way). The one place records are read: any other shape is one error naming the file and what is wrong."""
    if not path.is_file():
        return None
    record = read_json(path)
    if not isinstance(record, dict):
        raise InputError(path, None, "not a provenance record (command, version, arguments, inputs, outputs)")
    outputs = record.get("outputs")
    return {**record, "outputs": None if outputs is None else read_digests(outputs, path, "outputs")}


def _write_record(path: Path, provenance: Provenance, outputs: dict[str, Any] | None) -> None:
    with atomic_write(path) as handle:
        json.dump({**provenance.to_dict(), "outputs": outputs}, handle, indent=2)
        handle.write("\n")


def _making(provenance: Provenance, outputs: Outputs, make: Callable[[], T]) -> T:
    """``make`` between the "making" record and the complete one. A make that fails before writing any output (its input
    refused where ``make`` reads it) leaves the record as it was, or none where there was none: one made over by `overwrite`
    would else say "making" for outputs nothing touched, and then refuse them as made from the input that was refused."""
    before = outputs.states()
    previous = outputs.record.read_bytes() if outputs.record.is_file() else None
    begin(provenance, outputs)
    try:
        value = make()
    except BaseException:
        if outputs.states() == before:
            _restore(outputs.record, previous)
        raise
    seal(provenance, outputs)
    return value


def _restore(record: Path, previous: bytes | None) -> None:
    """Put back the record a failed make found (``previous``; None: there was none)."""
    if previous is None:
        record.unlink(missing_ok=True)
        return
    with atomic_write(record, "wb") as handle:
        handle.write(previous)


# ----- sharded steps: their logs and the merge -----


def shard_log(log_path: Path, shard: Shard) -> Path:
    """Shard ``i`` of ``n``'s complete log: ``RUN.shard-0000i-of-0000n.jsonl`` (one process: ``RUN.jsonl``)."""
    return log_path.with_name(f"{log_path.name}.jsonl" if shard.whole else f"{log_path.name}.{shard.label}.jsonl")


def finished_shards(log_path: Path) -> list[Path]:
    """The complete logs of ``log_path``'s shards there are, in shard order (each named as :func:`shard_log` names it)."""
    return sorted(p for p in log_path.parent.glob(f"{glob.escape(log_path.name)}.shard-*-of-*.jsonl")
                  if not p.name.endswith(".partial.jsonl"))


def read_shard_logs(log_path: Path, whole: bool = False) -> tuple[Provenance, list[ResultsLog]]:
    """The job's provenance and the shards' complete logs there are, in shard order, or (``whole``) the one process's: a log
    of the other kind is another job's (a one-process job killed while publishing leaves its log); none, or foreign or
    duplicated shards, are one-line errors (missing ones are :func:`check_every_shard`'s)."""
    paths = [shard_log(log_path, WHOLE)] if whole else finished_shards(log_path)
    logs = [results for path in paths if (results := ResultsLog.read(path)) is not None]
    if not logs:
        raise ResrankError(f"{log_path}: no finished shard to merge ({log_path.name}.shard-*-of-*.jsonl)")
    first = Provenance.from_dict(logs[0].header.get("provenance"), logs[0].path)
    num = logs[0].header.get("num")
    for results in logs:
        try:
            shard = Shard(int(results.header["shard"]), int(results.header["num"]))
        except (KeyError, TypeError, ValueError, ResrankError):
            raise InputError(results.path, 1, "not a shard's log header (shard, num); delete it and run that shard again") from None
        if results.path != shard_log(log_path, shard):
            raise ResrankError(f"{results.path}: holds {shard.label}, not what its name says (copied or renamed?); delete it and "
                               f"run that shard again")
        if shard.num != num:
            raise ResrankError(f"{results.path}: a shard of {shard.num}, the others of {num}; delete the shards of the other split")
        difference = Provenance.from_dict(results.header.get("provenance"), results.path).difference(first)
        if difference is not None:
            raise ResrankError(f"{results.path}: another job than {logs[0].path.name} ({logs[0].path.name} {difference}); "
                               f"run this shard again with `overwrite`")
    return first, logs


def check_every_shard(log_path: Path, logs: list[ResultsLog]) -> None:
    """Refuse to publish from ``logs`` (of one job, :func:`read_shard_logs`) unless every shard of the job is among them."""
    num = logs[0].header["num"]
    missing = sorted(set(range(num)) - {results.header["shard"] for results in logs})
    if missing:
        raise ResrankError(f"{log_path}: shard(s) {', '.join(map(str, missing))} of {num} not finished yet")


def units(logs: list[ResultsLog]) -> list[dict[str, Any]]:
    """Every shard's units in one-process order (by ``position``); disjoint: :func:`read_shard_logs` let in each shard of
    one job once, and a shard logs only the units it owns, each once."""
    return sorted((unit for results in logs for unit in results.units), key=lambda unit: int(unit["position"]))


def rank_queries(results: ResultsLog, shard: Shard, qids: list[str], batch_size: int,
                 rank: Callable[[list[str]], Iterable[tuple[str, list[Candidate], dict[str, Any]]]],
                 check: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """The ``work`` of a sharded step whose units are queries (a rerank, a dense retrieval): ``rank`` the queries of the
    blocks of ``batch_size`` that ``shard`` owns and ``results`` lacks (whole blocks: batch composition changes rounding)
    and log each one's ranking, with what ``rank`` adds to it. The end record: the seconds it took.

    Units already logged are checked first, each a query of this job at its position, once, with a ranking of (docid,
    finite score) pairs that ``check`` accepts (it raises on what the step could not have logged): a log whose chain was
    recomputed after an edit is refused at its line, before anything loads."""
    started = time.perf_counter()
    position = {q: i for i, q in enumerate(qids)}
    done: set[str] = set()
    for line, unit in enumerate(results.units, 2):  # line 1 is the header
        try:
            qid, ranking = unit["qid"], unit["ranking"]
            if qid not in position or qid in done or unit["position"] != position[qid]:
                raise ValueError("not a query of this job at its position")
            if not all(isinstance(docid, str) and math.isfinite(score) for docid, score in ranking):
                raise ValueError("not (docid, score) pairs")
            if check is not None:
                check(unit)
        except (KeyError, TypeError, ValueError):
            raise InputError(partial_path(results.path), line, f"not a unit this job logs; {REDO}") from None
        done.add(qid)
    todo = [q for block in shard.blocks(qids, batch_size) if not done.issuperset(block) for q in block]
    for qid, ranking, extra in rank(todo) if todo else ():
        if qid not in done:  # a block a kill cut short is ranked again whole; its queries already logged are not logged twice
            results.add({"position": position[qid], "qid": qid, "ranking": [[c.docid, c.score] for c in ranking], **extra})
    return {"seconds": round(time.perf_counter() - started, 3)}


def logged_run(logged: Iterable[dict[str, Any]]) -> Run:
    """The run in units :func:`rank_queries` logged (e.g. :func:`units` of a job's logs), in their order: its format read
    where it is written."""
    return {unit["qid"]: [Candidate(str(docid), float(score)) for docid, score in unit["ranking"]] for unit in logged}
