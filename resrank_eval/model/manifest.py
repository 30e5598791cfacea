"""Pinned digests of a model folder: a changed byte in a weight file is refused before the weights are used.

``manifest.json`` lists every file of the folder (config, head, delta, the ``encoder/`` and ``reranker/``
sub-folders; the card and the manifest itself aside) with its sha256 and size; ``save_pretrained`` and
``pack`` write it last. :func:`check_folder` without digests (sizes and presence only: what a reranker's
option check runs, reading no weights) catches a missing or truncated file before anything loads; with
digests (every load) also a flipped bit that leaves a safetensors header intact. A weight file or config
the manifest does not list is refused; other files added later (a training log) are not read by loading
and are left alone. A folder saved before manifests loads with a warning. The bundled model's manifest
is itself pinned in the package (:data:`.sources.BUNDLED_MANIFEST_SHA256`), as the SmolLM2 GGUF is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import InputError, ResrankError
from ..formats.jsonl import read_json
from ..provenance import fingerprint
from .sources import BUNDLED_MANIFEST_SHA256, BUNDLED_MODEL

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
CARD_FILE = "README.md"
REQUIRED = ("resrank.json", "head.safetensors")
"""What every model folder holds, manifest or not."""


def write_manifest(folder: str | Path) -> None:
    """List every file of ``folder`` with its sha256 and size (call it after everything else is written)."""
    root = Path(folder)
    files = {path.relative_to(root).as_posix(): {"sha256": fingerprint(path).removeprefix("sha256:"), "size": path.stat().st_size}
             for path in sorted(root.rglob("*")) if path.is_file() and path.relative_to(root).as_posix() not in (MANIFEST_FILE, CARD_FILE)}
    (root / MANIFEST_FILE).write_text(json.dumps({"files": files}, indent=1) + "\n", encoding="utf-8")


def check_folder(folder: str | Path, digests: bool) -> None:
    """Raise a one-line error naming the first file that is missing, of another size, unlisted (a weight file or
    config) or, with ``digests``, of other bytes than the manifest pins."""
    root = Path(folder)
    for name in REQUIRED:
        if not (root / name).is_file():
            raise ResrankError(f"{root / name}: missing (incomplete ResRank model folder)")
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        log.warning("%s: no %s, so its weights cannot be checked; save it again to add one", root, MANIFEST_FILE)
        return
    if root.resolve() == BUNDLED_MODEL.resolve() and fingerprint(manifest) != "sha256:" + BUNDLED_MANIFEST_SHA256:
        raise InputError(manifest, None, "not the manifest this resrank-eval release ships (the bundled model was changed)")
    listed = read_json(manifest).get("files")
    if not isinstance(listed, dict):
        raise InputError(manifest, None, "needs a 'files' object")
    for name, entry in listed.items():
        path = root / name
        if not path.is_file():
            raise ResrankError(f"{path}: missing (listed in {manifest})")
        if path.stat().st_size != entry.get("size"):
            raise InputError(path, None, f"{path.stat().st_size} bytes, the manifest says {entry.get('size')} (truncated or replaced)")
        if digests and fingerprint(path) != f"sha256:{entry.get('sha256')}":
            raise InputError(path, None, "sha256 differs from the manifest's (the file changed since the model was saved)")
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if (path.suffix == ".safetensors" or name == REQUIRED[0]) and name not in listed:
            raise InputError(path, None, f"not listed in {manifest}: a weight file or config the model was not saved with")
