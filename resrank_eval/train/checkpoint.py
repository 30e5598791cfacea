"""Training checkpoints that resume exactly: weights, optimizer, scheduler, RNG streams and step.

The data order needs no state of its own (:mod:`.batches` derives it from the step). A checkpoint is
``tensors.safetensors``: every tensor (weights, optimizer moments, RNG states), and the rest (step,
scheduler, Python's RNG state, the structure the tensors sit in) as JSON in its header -- no pickle, so
loading a checkpoint runs no code from it. Beside it ``state.json`` records its size and SHA-256, checked
before a resume loads it: a state edited since (weights or step) would otherwise be trained on silently.
It is written into a hidden temporary folder and renamed into place, so a kill mid-save leaves the
previous checkpoint as the newest complete one.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..jobs import Outputs, verify

CHECKPOINTS = "checkpoints"
"""The folder of a training run's output_dir that holds its checkpoints."""
PREFIX = "step-"
STATE_FILE = "state.json"
TENSORS_FILE = "tensors.safetensors"
_TENSOR, _TUPLE, _PAIRS = "__tensor__", "__tuple__", "__pairs__"
_STATE = "state"
"""The header key of ``tensors.safetensors`` that holds the JSON state."""
_OUTPUTS = "outputs"
"""The key of ``state.json`` that lists its folder's files as a step's record does (:func:`..jobs.verify` reads it)."""


def _partial(name: str) -> str:
    """Where checkpoint ``name`` is written, to be renamed into place when complete: a kill leaves it behind."""
    return f".{name}.tmp"


PARTIAL = _partial(f"{PREFIX}*")
"""The glob of checkpoints still being written."""


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as ``folder/step-NNNNNNN/`` atomically; keep the newest ``keep``."""
    from safetensors.torch import save_file

    target = folder / f"{PREFIX}{step:07d}"
    building = folder / _partial(target.name)
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, tensors, set())
    save_file(tensors, str(building / TENSORS_FILE), metadata={_STATE: json.dumps(skeleton)})
    (building / STATE_FILE).write_text(json.dumps({_OUTPUTS: _outputs(building).digests()}), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    for old in checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _outputs(checkpoint: Path) -> Outputs:
    """A checkpoint's file and its record, ``state.json``, which must list it."""
    return Outputs((checkpoint / TENSORS_FILE,), checkpoint / STATE_FILE)


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    return [state.parent for state in sorted(folder.glob(f"{PREFIX}*/{STATE_FILE}"))]


def load_latest(folder: Path) -> dict[str, Any] | None:
    """The newest complete checkpoint's state (tensors on the CPU), or None; its file as ``state.json`` records it."""
    from safetensors import SafetensorError, safe_open

    found = checkpoints(folder)
    if not found:
        return None
    remedy = f"delete {found[-1]} to resume from the checkpoint before it, or train into a new output_dir"
    verify(_outputs(found[-1]), remedy, missing_ok=False)
    path = found[-1] / TENSORS_FILE
    try:
        with safe_open(str(path), "pt") as checkpoint:
            tensors = {name: checkpoint.get_tensor(name) for name in checkpoint.keys()}
            return _join(json.loads((checkpoint.metadata() or {})[_STATE]), tensors)
    except (SafetensorError, OSError) as exc:
        raise InputError(path, None, f"not a complete safetensors file ({exc})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, None, f"not a checkpoint's state ({exc})") from None


def _split(value: Any, tensors: dict[str, torch.Tensor], storages: set[int]) -> Any:
    """``value`` as JSON, each tensor replaced by a reference to its copy in ``tensors`` (tuples and non-string keys tagged)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        if tensor.untyped_storage().data_ptr() in storages and tensor.numel():  # tied weights: safetensors stores no shared memory
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        tensors[str(len(tensors))] = tensor
        return {_TENSOR: str(len(tensors) - 1)}
    if isinstance(value, (tuple, list)):
        items = [_split(v, tensors, storages) for v in value]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not {_TENSOR, _TUPLE, _PAIRS} & value.keys():
            return {k: _split(v, tensors, storages) for k, v in value.items()}
        return {_PAIRS: [[_split(k, tensors, storages), _split(v, tensors, storages)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}")


def _join(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The state :func:`_split` took apart."""
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        return tensors[value[_TENSOR]]
    if _TUPLE in value:
        return tuple(_join(v, tensors) for v in value[_TUPLE])
    if _PAIRS in value:
        return {_join(k, tensors): _join(v, tensors) for k, v in value[_PAIRS]}
    return {k: _join(v, tensors) for k, v in value.items()}
