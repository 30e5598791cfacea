"""Atomic output: a reader (or a killed job) never sees a half-written file or folder.

Files are written beside their target and renamed into place. Folders (indexes, assembled models)
are built the same way under :func:`build_lock`: one builder at a time (:func:`locked`, the one lock
across processes), and what a killed build left behind is removed by the next one, so a cache is either
complete or absent.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import gzip
import io
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import ResrankError

log = logging.getLogger(__name__)
_held: set[Path] = set()


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temp file beside ``path`` and rename it over ``path`` only on success. Text to a ``*.gz`` path is
    gzipped (without a time stamp, so equal text gives equal bytes), as every reader decompresses by that suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    gzipped = "b" not in mode and path.suffix == ".gz"
    try:
        with open(tmp, mode.replace("w", "x") + ("b" if gzipped else ""), encoding=None if "b" in mode or gzipped else "utf-8") as raw:  # a new file, umask's mode
            if not gzipped:
                yield raw
            else:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed, \
                        io.TextIOWrapper(packed, encoding="utf-8") as handle:
                    yield handle
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk names no file
            raise ResrankError(f"{path}: cannot be written ({exc.strerror or exc})") from None
        raise


@contextlib.contextmanager
def build_lock(target: str | Path) -> Iterator[None]:
    """:func:`locked` ``target``, and remove temp folders that killed builds of it left.

    Inside, check whether ``target`` is complete (a waiting process usually finds it so), else build
    in :func:`temp_folder` and rename that into place.
    """
    with locked(Path(target)):
        remove_temp_folders(target)
        yield


def remove_temp_folders(target: str | Path) -> None:
    """Remove the temp folders (:func:`temp_folder`) of ``target`` that killed builds left."""
    for stale in Path(target).parent.glob(f".{glob.escape(Path(target).name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def temp_folder(target: str | Path) -> Path:
    """A fresh hidden folder beside ``target`` to build it in (see :func:`build_lock`), with umask's mode (what renaming
    it into place gives ``target``)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.with_name(f".{target.name}.{os.urandom(8).hex()}.tmp")
    folder.mkdir()
    return folder


def check_writable(path: str | Path, folder: bool = False) -> None:
    """Raise :class:`ResrankError` unless ``path`` (a file, or a ``folder``) can be written or created there.

    Checked before any work starts, so a typo in an output path costs nothing: the nearest existing
    ancestor must be a writable folder, and an existing ``path`` of the right kind.
    """
    path = Path(path)
    if path.exists():
        if path.is_dir() != folder:
            raise ResrankError(f"{path}: is {'not ' if folder else ''}a folder")
        if not os.access(path, os.W_OK):
            raise ResrankError(f"{path}: not writable")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ResrankError(f"{path}: cannot be created, {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ResrankError(f"{path}: cannot be created, {ancestor} is not writable")


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Hold ``target``'s lock (``.<name>.lock`` beside it, removed on release) for the block; a process holding it is waited
    for, and named. Reentrant within a process."""
    target = Path(target).absolute()
    if target in _held:
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(f".{target.name}.lock")
    while True:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: waiting for %s, which is making it", target, _holder(descriptor))
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(descriptor).st_ino:  # not a lock file its last holder removed meanwhile
                break
        os.close(descriptor)
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                                     "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
    _held.add(target)
    try:
        yield
    finally:
        _held.discard(target)
        lock.unlink(missing_ok=True)
        os.close(descriptor)


def _holder(descriptor: int) -> str:
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        return f"process {holder['pid']} on {holder['host']} (`{holder['command']}`, since {holder['since']})"
    except (ValueError, KeyError, TypeError, OSError):
        return "another process"
