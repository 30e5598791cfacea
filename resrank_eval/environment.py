"""What a timing depends on besides the code path: device name, threads, library versions, the commit.

Recorded in every rerank summary, so an efficiency number in a table can always say where it was
measured. Versions come from the installed distributions' metadata (no heavy import); the device name
from torch only when the device is a GPU (torch is loaded then anyway), else from ``/proc/cpuinfo``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .version import __version__

DISTRIBUTIONS = ("torch", "transformers", "pyserini")


def environment(device: str = "cpu") -> dict[str, Any]:
    """Device, its name, threads, Python and library versions, and the source commit (None outside a git checkout)."""
    versions = {name: _version(name) for name in DISTRIBUTIONS}
    return {"device": device, "device_name": device_name(device), "threads": _threads(), "python": platform.python_version(),
            "resrank-eval": __version__, **versions, "commit": commit()}


def device_name(device: str) -> str:
    if device.startswith("cuda") and "torch" in sys.modules:
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return _cpu_name()


@lru_cache(maxsize=1)
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threads() -> int | None:
    if "torch" in sys.modules:
        import torch

        return torch.get_num_threads()
    return os.cpu_count()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def commit() -> str | None:
    """``git describe --always --dirty`` of the package's checkout; None for an installed wheel or without git."""
    source = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(source), "describe", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
