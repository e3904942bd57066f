"""Downstream classification (design.md section 6): a backbone trained and scored, and its metrics
(accuracy, macro-F1, recall, confusion).

Thin wrappers over :mod:`sklearn.metrics` so that every downstream model is scored the same way
and classes absent from a test set still get a row, a column and a (zero) score.
"""

import os
import time

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from sasgda.config import TrainerConfig


def _check_labels(name: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{name} holds labels in [{y.min()}, {y.max()}]; valid range is [0, {n_classes - 1}]"
        )
    return y.astype(np.int64)


def classification_metrics(y_true, y_pred, n_classes: int) -> dict:
    """Accuracy, macro-F1, per-class recall and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n_samples,)
        True and predicted labels in ``[0, n_classes)``.
    n_classes : int
        Number of classes. Metrics are computed over ``labels=range(n_classes)``, so a class
        that never occurs gets recall 0 and F1 0 (``zero_division=0``), and still counts in the
        macro average.

    Returns
    -------
    dict
        ``accuracy`` (float), ``macro_f1`` (float), ``per_class_recall`` (list of
        ``n_classes`` floats), ``confusion`` (``n_classes`` lists of ``n_classes`` ints; row =
        true class, column = predicted class), ``n_samples`` (int). Plain Python types, ready
        for JSON.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    y_true = _check_labels("y_true", y_true, n_classes)
    y_pred = _check_labels("y_pred", y_pred, n_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("classification_metrics needs at least one sample, got 0")
    labels = list(range(n_classes))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "per_class_recall": [float(r) for r in recall],
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n_samples": int(y_true.size),
    }


def train_and_test(
    backbone: str,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    n_classes: int,
    cfg: TrainerConfig,
    *,
    seed: int,
    device: str | torch.device,
    progress: bool = True,
    metrics_path: str | os.PathLike | None = None,
    desc: str = "train",
    precision: str = "auto",
) -> tuple[torch.nn.Module, dict]:
    """Build ``backbone`` (weights seeded with ``seed``), train it on ``train`` with the one
    trainer (``val`` may be empty, ``precision`` as for :func:`~sasgda.training.fit`) and score
    it on ``test``.

    Returns the model and :func:`classification_metrics` of its test predictions with
    ``best_epoch``, ``best_val_acc`` and ``train_seconds``.
    """
    from sasgda.models import build_classifier
    from sasgda.training import fit, predict_logits

    x_train = train[0]
    torch.manual_seed(seed)
    model = build_classifier(backbone, n_chans=x_train.shape[1], n_times=x_train.shape[2],
                             n_classes=n_classes)
    start = time.perf_counter()
    history = fit(model, *train, *val, cfg, device=device, seed=seed, progress=progress,
                  metrics_path=metrics_path, desc=desc, precision=precision)
    seconds = time.perf_counter() - start
    y_pred = predict_logits(model, test[0], device=device).argmax(1)
    return model, {**classification_metrics(test[1], y_pred, n_classes),
                   "best_epoch": history["best_epoch"], "best_val_acc": history["best_val_acc"],
                   "train_seconds": round(seconds, 2)}
