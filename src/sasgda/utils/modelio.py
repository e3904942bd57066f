"""Models describe themselves: ``config.json`` (class name + constructor kwargs) beside
``model.safetensors``. Loading rebuilds the module from the JSON, never from pickle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sasgda.utils.io import atomic_write_bytes, load_json, save_json


def save_state_dict(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Save a state dict as safetensors, atomically."""
    from safetensors.torch import save as save_bytes

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write_bytes(path, save_bytes(tensors))


def save_model(model: torch.nn.Module, directory: str | Path, name: str = "model") -> Path:
    """Write ``config.json`` and ``<name>.safetensors`` for a model with a ``config`` dict.

    The model must expose ``model.config``: the keyword arguments that rebuild it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_json(directory / "config.json", {"class": type(model).__name__, **model.config})
    save_state_dict(model.state_dict(), directory / f"{name}.safetensors")
    return directory


def load_model(
    directory: str | Path,
    builders: dict[str, Callable[..., torch.nn.Module]],
    name: str = "model",
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Rebuild a model saved by :func:`save_model`; ``builders`` maps class names to classes."""
    directory = Path(directory)
    config_path = directory / "config.json"
    weights_path = directory / f"{name}.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: model file not found")
    config = load_json(config_path)
    cls_name = config.pop("class", None)
    if cls_name not in builders:
        raise ValueError(f"{config_path}: unknown model class {cls_name!r}")
    model = builders[cls_name](**config)
    try:
        model.load_state_dict(load_file(str(weights_path), device="cpu"))
    except (RuntimeError, OSError, SafetensorError) as err:  # a mismatch or a damaged file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{weights_path}: does not hold weights of this {cls_name} (made by another version "
            f"or another config?): {first}"
        ) from None
    return model.to(device)


__all__ = ["load_file", "load_model", "save_file", "save_model", "save_state_dict"]
