"""How the library reports: ``logging`` for messages, tqdm bars for long loops; the CLI sets how loud.

Library code never prints. Each module logs to ``logging.getLogger(__name__)`` (under
``resrank_eval``) and wraps its long loops in :func:`progress`. Left alone, bars show only on a
terminal and messages follow the application's logging setup; :func:`configure` (called by the CLI
for ``--quiet`` / ``--verbose``) sets both.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")

_bars: bool | None = None
"""True: always, False: never, None: only when stderr is a terminal (tqdm's own rule)."""


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm[T]:
    """A tqdm bar on stderr that obeys :func:`configure`; takes tqdm's arguments (desc, total, unit).

    Under torchrun or ``accelerate launch`` only rank 0 draws (its own shard's progress: more would overwrite it).
    """
    hidden = os.environ.get("RANK", "0") != "0"
    disable = True if hidden else None if _bars is None else not _bars  # None: tqdm decides by the terminal
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=disable, file=sys.stderr, **kwargs)


class _TqdmHandler(logging.Handler):
    """Writes above any live bar instead of through it, to whatever ``sys.stderr`` is at that moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never take the program down
            self.handleError(record)


def configure(verbosity: int = 0) -> None:
    """-1 quiet (warnings only, no bars), 0 normal (info, bars on a terminal), 1 verbose (debug).

    Idempotent: the CLI calls it once per command, tests call the CLI many times in one process.
    """
    global _bars
    _bars = False if verbosity < 0 else None
    if verbosity < 0 or not sys.stderr.isatty():  # Hugging Face's own bars (weight loading) follow ours
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logger = logging.getLogger("resrank_eval")
    for handler in [h for h in logger.handlers if isinstance(h, _TqdmHandler)]:
        logger.removeHandler(handler)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s" if verbosity < 1 else "%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG)
