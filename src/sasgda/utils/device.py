"""Device resolution for ``--device auto|cpu|cuda``."""

import torch

DEVICES = ("auto", "cpu", "cuda")


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
