"""Loading Hugging Face models and tokenizers from an id, a local folder or a GGUF file.

One place turns transformers' many failure modes (missing folder, no network, bad file) into a
one-line :class:`ResrankError`, and picks the device and dtype (bf16 on GPU, fp32 on CPU) -- for
the ResRank encoder and reader and for the generative baselines' causal LMs alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ResrankError, first_line

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means the GPU when there is one. A device type this machine lacks (``cuda`` without a GPU, ``mps`` off a
    Mac, ``xpu`` without its build) is refused in one line here, before torch fails on it in its own words mid-load."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ResrankError(f"unknown device {device!r}") from None
    accelerator = torch.accelerator.current_accelerator(check_available=True)
    present = ["cpu", *([accelerator.type] if accelerator is not None else [])]
    if resolved.type not in present:
        raise ResrankError(f"device {device!r} asked for, but this machine has no {resolved.type} device (it has {', '.join(present)})")
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None`` (or ``auto``) means bf16 on a GPU (the paper's setting) and fp32 on a CPU (bf16 is slow there)."""
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ResrankError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _from_pretrained(kind: str, auto: Any, source: str, **options: Any) -> Any:
    """``auto.from_pretrained(source)``, a ``.gguf`` file as ``from_pretrained(folder, gguf_file=name)``; failures in one line."""
    name = source
    if source.endswith(".gguf"):
        if not Path(source).is_file():
            raise ResrankError(f"{source}: GGUF file does not exist")
        name, options["gguf_file"] = str(Path(source).parent), Path(source).name
        from transformers import modeling_gguf_pytorch_utils

        from ..logs import progress

        modeling_gguf_pytorch_utils.tqdm = progress  # its de-quantizing bar obeys -q and shows on a terminal only, as ours
    try:
        return auto.from_pretrained(name, **options)
    except (OSError, ValueError) as exc:
        raise ResrankError(f"cannot load {kind} {source!r}: {first_line(exc)}") from None


def load_tokenizer(source: str) -> Any:
    from transformers import AutoTokenizer

    return _from_pretrained("tokenizer", AutoTokenizer, source)


def load_model(source: str, device: torch.device, dtype: torch.dtype, causal_lm: bool = False) -> Any:
    """The bare transformer (``AutoModel``: ranking and pooling read hidden states), or with its LM head."""
    from transformers import AutoModel, AutoModelForCausalLM

    model = _from_pretrained("model", AutoModelForCausalLM if causal_lm else AutoModel, source, dtype=dtype)
    quantizer = getattr(model, "hf_quantizer", None)
    if source.endswith(".gguf") and quantizer is not None and not getattr(quantizer, "packed_modules", None):
        # GGUF weights were de-quantised into plain tensors: drop the marker so the model trains and saves.
        quantizer.remove_quantization_config(model)
    return model.to(device).eval()
