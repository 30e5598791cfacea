"""Checks of a model folder before its weights are used: a valid config, whole files, pinned digests.

``manifest.json`` lists every file of the folder (the card and the manifest itself aside) with its sha256 and
size; ``save_pretrained`` and ``pack`` write it last. :func:`check_folder` without digests (presence and sizes,
reading no weights: a reranker's option check, so a mistake costs no 20 s of loading) catches a missing or
truncated file; with digests (every load) also a flipped bit that leaves a safetensors header intact. A file the
manifest does not list is refused where loading may read it: a weight file of any format or ``resrank.json``
anywhere, and any file in a sub-folder (the Hugging Face folders: configs, tokenizer files), and a link to a folder (a
source name such as ``pypi:...`` is looked up inside the folder first); other top-level files added later (a training
log) are not read by loading and are left alone. A folder without a manifest is refused: every folder this package saves,
packs, pushes or ships has one, and without it nothing could be checked. The bundled model's manifest is itself pinned in
the package (:data:`.sources.BUNDLED_MANIFEST_SHA256`), as the SmolLM2 GGUF is. Names that are not local folders (presets,
hub repositories, ``smollm2``) are left to the loader, which fails fast on them.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError, ResrankError
from ..formats.jsonl import read_json
from ..provenance import FileDigest, file_digest, read_digests
from .config import CONFIG_NAME, ResRankConfig
from .presets import PRESETS
from .sources import BUNDLED_MANIFEST_SHA256, BUNDLED_MODEL, HUB_ID

MANIFEST_FILE = "manifest.json"
CARD_FILE = "README.md"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx")
"""Weight files in any format a loader may read: one the manifest does not list is refused wherever it lies."""


def check_weights(folder: str | Path) -> None:
    """Every safetensors file in a local model folder (and its sub-folders) is whole: its header parses and covers the
    file, so a truncated or empty file is caught here, not by the loader half a minute later."""
    from safetensors import SafetensorError, safe_open

    for path in sorted(Path(folder).rglob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy"):
                pass
        except (SafetensorError, OSError) as exc:
            raise InputError(path, None, f"not a complete safetensors file ({exc})") from None


def check_resrank_model(name_or_dir: str | Path) -> None:
    """A ResRank model folder whose config and weights files are sound, or a preset name."""
    path = Path(name_or_dir)
    if path.is_dir():
        ResRankConfig.load(path)  # or the one error saying it is no ResRank model folder
        check_weights(path)
        check_folder(path, digests=False)
    elif str(name_or_dir) not in PRESETS and not HUB_ID.fullmatch(str(name_or_dir)):
        raise ResrankError(f"{name_or_dir}: no such folder (and not a preset: {', '.join(PRESETS)}; nor a hub repository owner/name)")


def check_lm_source(source: str | Path) -> None:
    """A causal LM's source: a local folder's weights are checked, a ``.gguf`` file must exist; what may be a hub id
    (``owner/name``, ``gpt2``) or a wheel's name (``smollm2``, ``pypi:...``) goes to the loader; the rest is a missing folder."""
    path, name = Path(source), str(source)
    if path.is_dir():
        check_weights(path)
    elif name.endswith(".gguf") and not path.is_file():
        raise ResrankError(f"{source}: GGUF file does not exist")
    elif not (HUB_ID.fullmatch(name) or HUB_ID.fullmatch(f"owner/{name}") or name.startswith("pypi:")):
        raise ResrankError(f"{source}: no such folder (and not a hub id)")


def write_manifest(folder: str | Path) -> None:
    """List every file of ``folder`` with its sha256 and size (call it after everything else is written)."""
    root = Path(folder)
    files = {path.relative_to(root).as_posix(): {"sha256": file_digest(path), "size": path.stat().st_size}
             for path in sorted(root.rglob("*")) if path.is_file() and path.relative_to(root).as_posix() not in (MANIFEST_FILE, CARD_FILE)}
    (root / MANIFEST_FILE).write_text(json.dumps({"files": files}, indent=1) + "\n", encoding="utf-8")


def check_folder(folder: str | Path, digests: bool) -> None:
    """Raise a one-line error naming the first file that is missing, of another size, unlisted where loading may
    read it (see the module doc) or, with ``digests``, of other bytes than the manifest pins. Callers have loaded
    the folder's config."""
    root = Path(folder)
    if not (root / "head.safetensors").is_file():  # what every folder holds (its config is loaded first)
        raise ResrankError(f"{root / 'head.safetensors'}: missing (incomplete ResRank model folder)")
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        raise ResrankError(f"{manifest}: missing, so the model's files cannot be checked (save_pretrained and pack write it)")
    if root.resolve() == BUNDLED_MODEL.resolve() and file_digest(manifest) != BUNDLED_MANIFEST_SHA256:
        raise InputError(manifest, None, "not the manifest this resrank-eval release ships (the bundled model was changed)")
    listed = _read_manifest(manifest)
    for name, entry in listed.items():
        path = root / name
        if not path.is_file():
            raise ResrankError(f"{path}: missing (listed in {manifest})")
        if path.stat().st_size != entry.size:
            raise InputError(path, None, f"{path.stat().st_size} bytes, the manifest says {entry.size} (truncated or replaced)")
        if digests and file_digest(path) != entry.sha256:
            raise InputError(path, None, "sha256 differs from the manifest's (the file changed since the model was saved)")
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_dir() and path.is_symlink() and not name.startswith("."):  # listing does not enter it; a source may name it
            raise InputError(path, None, f"a link to a folder, whose files {manifest} cannot vouch for (the loader would read them)")
        if name not in listed and path.is_file() and (path.suffix in WEIGHT_SUFFIXES or name == CONFIG_NAME or loader_reads(name)):
            raise InputError(path, None, f"not listed in {manifest}: a file the loader would read that the model was not saved with")


def _read_manifest(path: Path) -> dict[str, FileDigest]:
    """The files a manifest lists, by name: the one place manifests are read, so any other shape is one error naming it."""
    raw = read_json(path)
    if not isinstance(raw, dict) or "files" not in raw:
        raise InputError(path, None, "not a model manifest (an object with 'files')")
    return read_digests(raw["files"], path, "files")


def loader_reads(name: str) -> bool:
    """Whether Hugging Face loading may read the folder's file ``name``: anything in a sub-folder (``encoder/``,
    ``reranker/``: config, generation config, tokenizer files, weights), a hidden one (``.cache/``) aside."""
    return "/" in name and not name.startswith(".")
