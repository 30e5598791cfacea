"""Checks of a model argument that load nothing, so a mistake costs no 20 s of reading weights.

A ResRank folder's ``resrank.json`` must parse into a valid config, every file its manifest lists must
be there at its size (:mod:`.manifest`; the digests are checked by the load itself) and every
``*.safetensors`` file under a local model folder must be whole (the header parses and covers the
file: a truncated or empty file is caught here, not by the loader half a minute later). Names that are
not local folders (presets, hub repositories, ``smollm2``) are left to the loader, which fails fast on them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, ResrankError
from .config import CONFIG_NAME, ResRankConfig
from .manifest import check_folder
from .presets import PRESETS
from .sources import HUB_ID


def check_safetensors(path: str | Path) -> None:
    """Raise :class:`InputError` unless ``path`` is a complete safetensors file (reads only its header)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except (SafetensorError, OSError) as exc:
        raise InputError(path, None, f"not a complete safetensors file ({exc})") from None


def check_weights(folder: str | Path) -> None:
    """Every safetensors file in a local model folder (and its sub-folders) is whole."""
    for path in sorted(Path(folder).rglob("*.safetensors")):
        check_safetensors(path)


def check_resrank_model(name_or_dir: str | Path) -> None:
    """A ResRank model folder whose config and weights files are sound, or a preset name."""
    path = Path(name_or_dir)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise ResrankError(f"{path}: no {CONFIG_NAME} (not a ResRank model folder)")
        ResRankConfig.load(path)
        check_weights(path)
        check_folder(path, digests=False)
    elif str(name_or_dir) not in PRESETS and not HUB_ID.fullmatch(str(name_or_dir)):
        raise ResrankError(f"{name_or_dir}: not a ResRank model folder, preset ({', '.join(PRESETS)}) or hub repository (owner/name)")


def check_lm_source(source: str | Path) -> None:
    """A causal LM's source: a local folder's weights are checked, a ``.gguf`` file must exist; ids go to the loader."""
    path = Path(source)
    if path.is_dir():
        check_weights(path)
    elif str(source).endswith(".gguf") and not path.is_file():
        raise ResrankError(f"{source}: GGUF file does not exist")
