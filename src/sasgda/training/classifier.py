"""The task-aware classifier: built from its config section and trained by the one trainer."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from sasgda.config import ClassifierConfig
from sasgda.models import build_classifier
from sasgda.training.trainer import fit


def fit_task_classifier(
    cfg: ClassifierConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    n_classes: int,
    *,
    seed: int,
    device: str | torch.device,
    progress: bool = True,
    metrics_path: str | os.PathLike | None = None,
    precision: str = "auto",
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build the classifier ``cfg`` describes (weights seeded with ``seed``) and train it on the
    windows (in ``precision``, see :func:`~sasgda.training.fit`); returns the model, in eval
    mode, and the trainer's history."""
    torch.manual_seed(seed)
    kwargs = {"feat_dim": cfg.feat_dim, "dropout": cfg.dropout} if cfg.backbone == "cnn" else {}
    model = build_classifier(cfg.backbone, n_chans=x_train.shape[1], n_times=x_train.shape[2],
                             n_classes=n_classes, **kwargs)
    history = fit(model, x_train, y_train, x_val, y_val, cfg.train, device=device, seed=seed,
                  progress=progress, metrics_path=metrics_path, desc="classifier",
                  precision=precision)
    return model, history
