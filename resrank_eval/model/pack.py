"""``resrank-eval pack``: a trained ResRank folder stored as its changes against public base weights.

The delta format (low-rank factors or float16 differences) is :mod:`.packing`'s; this module loads
the trained model and the base it is measured against, and writes the packed folder (with the trained
model's card, and last the manifest of digests).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .config import TRANSFORMERS
from .manifest import write_manifest
from .packing import DELTA_FILE, HEAD_FILE, model_parts, part_deltas
from .resrank import ResRankModel


def pack(trained_dir: str | Path, out_dir: str | Path, encoder_source: str, reranker_source: str, max_rank: int = 64) -> dict[str, int]:
    """Write a packed copy of ``trained_dir`` whose base weights are the two given sources."""
    from safetensors.torch import save_file

    trained = ResRankModel.from_pretrained(trained_dir, "cpu", "float32")
    config = replace(trained.config, encoder=encoder_source, reranker=reranker_source)
    torch.manual_seed(0)
    base = ResRankModel.from_config(config, "cpu", "float32")
    delta, counts = part_deltas(model_parts(trained), model_parts(base), max_rank, str(trained_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(delta, str(out / DELTA_FILE))
    head = {k: v.detach().contiguous() for k, v in trained.state_dict().items() if not k.startswith(TRANSFORMERS)}
    save_file(head, str(out / HEAD_FILE))
    config.save(out)
    trained.card.write(out, config)
    write_manifest(out)
    return counts
