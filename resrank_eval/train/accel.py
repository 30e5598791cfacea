"""Distributed training through Accelerate: the trainer's one door to DDP, FSDP and bf16 autocast.

``accelerate launch --config_file CONFIG`` (or ``torchrun``) chooses the processes and DDP or FSDP;
the training YAML's ``training.precision`` chooses bf16 autocast (one owner, recorded with the run).
A plain ``resrank-eval train`` is one process. Checkpoints hold full (unsharded) state dicts
(``torch.distributed.checkpoint.state_dict``: the same keys whatever the wrapping, so a run can resume
under another launcher) and every rank's RNG streams, so a resumed multi-process run continues bit-exactly.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ResrankError

if TYPE_CHECKING:
    from accelerate import Accelerator

log = logging.getLogger(__name__)
PRECISIONS = {"fp32": "no", "bf16": "bf16"}


def make_accelerator(precision: str) -> Accelerator:
    """The run's Accelerator; gloo processes on a CPU machine, NCCL on GPUs (each rank its local GPU)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    if AcceleratorState._shared_state.get("_mixed_precision", PRECISIONS[precision]) != PRECISIONS[precision]:
        AcceleratorState._reset_state()  # a second run in this process (tests, a notebook) at another precision
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if launched not in ("no", PRECISIONS[precision]):
        log.warning("training.precision (%s) decides mixed precision; the Accelerate config's %r is not used", precision, launched)
    # Parts trained in one stage sit idle in another: DDP must expect parameters without gradients.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=PRECISIONS[precision], kwargs_handlers=[ddp])


def is_fsdp(accelerator: Accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def _full(**options: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **options)


def model_state(model: nn.Module) -> dict[str, Any]:
    """The full state dict, on the CPU, on the main process (others: empty); every process must call it."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full(cpu_offload=True))


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's full state keyed by parameter names (as :func:`model_state`)."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_full(cpu_offload=True))


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    # strict=False: AdamW keeps no state for a trainable parameter no loss reaches (BERT's pooler)
    set_optimizer_state_dict(model, optimizer, state, options=_full(strict=False))


def rank_states(accelerator: Accelerator, state: Any) -> list[Any]:
    """Every process's ``state`` (e.g. its RNG streams), in rank order, on every process."""
    from accelerate.utils import gather_object

    return gather_object([state]) if accelerator.num_processes > 1 else [state]


def own_state(accelerator: Accelerator, states: list[Any]) -> Any:
    """This process's entry of :func:`rank_states`; a checkpoint of another world size cannot resume exactly."""
    if len(states) != accelerator.num_processes:
        raise ResrankError(f"the checkpoint was written by {len(states)} processes; resume it with as many, not {accelerator.num_processes}")
    return states[accelerator.process_index]
