"""A real BEIR-format directory the registry does not know: Cranfield (1,400 abstracts, 225 queries).

Shipped in ``tests/data/cranfield-beir`` (455 KB), made from the SMART-format collection by
``python scripts/cranfield_to_beir.py <cranfield> tests/data/cranfield-beir`` (the one converter).
"""

from __future__ import annotations

import shutil
from pathlib import Path

CRANFIELD_BEIR = Path(__file__).parent / "data" / "cranfield-beir"


def cranfield_beir(out: Path) -> Path:
    """A writable copy of the Cranfield BEIR directory in ``out`` (tests may add an index or runs beside it)."""
    shutil.copytree(CRANFIELD_BEIR, out, dirs_exist_ok=True)
    return out
