"""Classifiers: the task-aware CNN and the downstream backbones (design.md section 4).

Every classifier takes windows ``(batch, n_chans, n_times)``, returns logits
``(batch, n_classes)``, exposes ``encode`` (features) and ``head`` (features to logits), and keeps
its keyword-only constructor arguments as ``config`` so that
:func:`sasgda.utils.modelio.save_model` / ``load_model(directory, MODEL_CLASSES)`` round-trip it.
"""

from __future__ import annotations

from torch import nn

from sasgda.models.cnn import TaskAwareCNN
from sasgda.models.crossformer import Crossformer
from sasgda.models.layers import SignalClassifier
from sasgda.models.stcnet import STCNet
from sasgda.models.tdct import TDCT

# Backbone names used in configs and on the command line.
BACKBONES = ("cnn", "crossformer", "tdct", "stcnet")

_BACKBONE_CLASSES: dict[str, type[SignalClassifier]] = {
    "cnn": TaskAwareCNN,
    "crossformer": Crossformer,
    "tdct": TDCT,
    "stcnet": STCNet,
}

# Class name -> class, the ``builders`` argument of ``sasgda.utils.modelio.load_model``.
MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls for cls in _BACKBONE_CLASSES.values()
}


def build_classifier(
    name: str, *, n_chans: int, n_times: int, n_classes: int, **kwargs
) -> SignalClassifier:
    """Build backbone ``name`` for windows ``(batch, n_chans, n_times)`` and ``n_classes``.

    Extra keyword arguments go to the backbone's constructor (for example ``feat_dim`` and
    ``dropout`` of the CNN). The weights are initialised from torch's global generator: build
    under ``torch.manual_seed(seed)`` for reproducible weights.
    """
    if name not in _BACKBONE_CLASSES:
        raise ValueError(f"unknown backbone {name!r} (valid: {', '.join(BACKBONES)})")
    return _BACKBONE_CLASSES[name](n_chans=n_chans, n_times=n_times, n_classes=n_classes, **kwargs)


__all__ = [
    "BACKBONES",
    "MODEL_CLASSES",
    "STCNet",
    "SignalClassifier",
    "TDCT",
    "TaskAwareCNN",
    "Crossformer",
    "build_classifier",
]
