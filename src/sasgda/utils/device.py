"""Where and how the models run: ``--device auto|cpu|cuda``, the ``precision`` of the forward
passes, and the processes of a multi-GPU run (``torchrun`` or ``accelerate launch``)."""

from __future__ import annotations

import os
from contextlib import nullcontext

import torch

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda`` (or ``cuda:N``) into a ``torch.device``.

    ``auto`` picks CUDA when it is available, else the CPU. Asking for CUDA on a machine without
    it is an error rather than a silent fallback, so that timings are never mislabelled.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name} (--device or the config's device): CUDA is not "
                             "available on this machine")
        return torch.device(name)
    raise ValueError(f"--device {name!r}: expected one of {', '.join(DEVICES)}")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype that forward passes run in under ``precision`` on ``device`` (None: fp32).

    ``auto`` is bf16 on a CUDA device that has it, fp16 (with a loss scaler, see
    :func:`grad_scaler`) on one that does not, and fp32 on a CPU: there bf16 sampled about 1.25x
    faster on a 2-core AVX512-BF16 machine, but its effect on the windows is not measured.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if torch.device(device).type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device``'s type; nothing for fp32 (``None``)."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """The loss scaler fp16 needs (its small range underflows gradients); a pass-through one
    for fp32 and bf16."""
    return torch.amp.GradScaler(torch.device(device).type, enabled=dtype == torch.float16)


# --- several processes ---------------------------------------------------------------------------


def world_size() -> int:
    """How many processes share the work: ``WORLD_SIZE`` as ``torchrun`` and ``accelerate
    launch`` set it, 1 otherwise."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_rank() -> int:
    """This process's place among :func:`world_size` processes (0 is the main one)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """The process that writes files and shows progress."""
    return process_rank() == 0


def join_processes(device: torch.device) -> torch.device:
    """Join the other processes of a multi-process launch through accelerate and return this
    process's device (its own GPU under ``accelerate launch --multi_gpu``); ``device`` itself in
    a single process."""
    if world_size() == 1:
        return device
    try:
        from accelerate import PartialState
    except ImportError:
        raise ValueError(f"WORLD_SIZE={world_size()}: several processes need accelerate "
                         "(pip install -e \".[scale]\")") from None
    return PartialState(cpu=device.type == "cpu").device


def sum_over_processes(tensor: torch.Tensor) -> torch.Tensor:
    """The elementwise sum of ``tensor`` over every process (``tensor`` itself in one)."""
    if world_size() > 1:
        tensor = tensor.clone()
        torch.distributed.all_reduce(tensor)
    return tensor
