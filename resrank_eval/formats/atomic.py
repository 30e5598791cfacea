"""Atomic output: a reader (or a killed job) never sees a half-written file or folder.

Files are written beside their target and renamed into place. Folders (indexes, assembled models)
are built the same way under :func:`build_lock`: one builder at a time across processes, and what a
killed build left behind is removed by the next one, so a cache is either complete or absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import ResrankError


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temp file beside ``path`` and rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if exc.filename is not None:
            raise
        raise ResrankError(f"{path}: cannot be written ({exc.strerror or exc})") from None  # a full disk names no file
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def build_lock(target: str | Path) -> Iterator[None]:
    """Hold the lock of folder ``target`` (other processes wait) and remove temp folders that killed builds of it left.

    Inside, check whether ``target`` is complete (a waiting process usually finds it so), else build
    in :func:`temp_folder` and rename that into place.
    """
    from filelock import FileLock

    target = Path(target)
    locks = target.parent / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / f"{target.name}.lock")):
        for stale in target.parent.glob(f".{target.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


def temp_folder(target: str | Path) -> Path:
    """A fresh hidden folder beside ``target`` to build it in (see :func:`build_lock`)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))


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


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
