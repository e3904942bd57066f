"""The one supervised trainer, shared by the task-aware classifier, the downstream backbones and
the evaluator network (design.md section 4).

It is model-agnostic: any ``nn.Module`` mapping windows ``(batch, n_chans, n_times)`` to logits.
AdamW with weight decay on weight matrices only (as in nanoGPT), a linear warm-up then cosine
decay of the learning rate per step, label smoothing, gradient clipping, early stopping on
validation accuracy and an in-memory restore of the best epoch's weights.

Determinism: ``fit`` shuffles with its own ``torch.Generator`` seeded from ``seed``, and runs
inside ``torch.random.fork_rng`` seeded from ``seed`` so that dropout draws are reproducible too
without changing the caller's global random state. Initialising the weights reproducibly (build
the model under ``torch.manual_seed(seed)``) is the caller's job.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sasgda.config import TrainerConfig, check_config
from sasgda.utils.device import autocast, autocast_dtype, grad_scaler

SCHEDULES = ("cosine", "onecycle")


def _check_arrays(x: np.ndarray, y: np.ndarray, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows ``(N, C, L)`` float32 and labels ``(N,)`` int64 as CPU tensors (no copy)."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 3:
        raise ValueError(f"{name}: expected windows of shape (N, n_chans, n_times), got {x.shape}")
    if y.shape != (len(x),):
        raise ValueError(f"{name}: expected {len(x)} labels of shape ({len(x)},), got {y.shape}")
    if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0):
        raise ValueError(f"{name}: labels must be integers >= 0")
    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y_t = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return x_t, y_t


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay weight matrices and kernels; leave biases, norms and embeddings of rank 1 alone."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up from ``1 / warmup_steps`` to 1, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
    batch_size: int,
) -> tuple[float, float]:
    """Mean cross-entropy (without smoothing) and accuracy of ``model`` in eval mode."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = y[start : start + batch_size].to(device)
        logits = model(xb)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(dim=1) == yb).sum().item()
    return loss_sum / len(x), correct / len(x)


def fit(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray | None,
    y_val: np.ndarray | None,
    cfg: TrainerConfig,
    *,
    device: str | torch.device,
    seed: int,
    progress: bool = True,
    metrics_path: str | os.PathLike | None = None,
    desc: str = "train",
    precision: str = "auto",
) -> dict[str, Any]:
    """Train ``model`` in place with early stopping on validation accuracy.

    Parameters
    ----------
    model : nn.Module
        Maps windows ``(batch, n_chans, n_times)`` to logits ``(batch, n_classes)``. It is moved
        to ``device``, trained, given the weights of its best validation epoch and left in eval
        mode.
    x_train, y_train : np.ndarray
        Training windows ``(N, n_chans, n_times)`` float32 and labels ``(N,)`` int64 from 0.
    x_val, y_val : np.ndarray or None
        Validation windows and labels for early stopping and model selection. ``None`` or empty:
        train for ``cfg.epochs`` and keep the last weights.
    cfg : TrainerConfig
        Epochs, batch size, learning rate, weight decay, label smoothing, patience, warm-up
        epochs, gradient clipping (0 = off) and the learning-rate schedule. ``patience`` 0
        turns early stopping off.
    device : str or torch.device
        Where to train; the arrays stay on the CPU and batches are moved there.
    seed : int
        Seeds the shuffling generator and the dropout draws; same seed, same initial weights and
        same data give the same trained weights on CPU.
    progress : bool
        Show a tqdm bar over epochs with the training loss and validation accuracy.
    metrics_path : path, optional
        A JSON-lines file, started afresh, that gets one line per epoch (epoch, train_loss,
        train_acc, val_loss, val_acc, lr, seconds), flushed as it is written.
    desc : str
        Label of the progress bar.
    precision : {"auto", "fp32", "bf16", "fp16"}
        The forward passes' dtype (:func:`~sasgda.utils.device.autocast_dtype`); weights,
        optimizer and loss stay in fp32.

    Returns
    -------
    dict
        ``best_epoch`` (1-based), ``best_val_acc`` and ``best_val_loss`` (None without
        validation data), ``epochs_run``, ``stopped_early`` and ``train_seconds``.
    """
    check_config(cfg, "train")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule={cfg.schedule!r}: expected one of {', '.join(SCHEDULES)}")
    x_tr, y_tr = _check_arrays(x_train, y_train, "x_train/y_train")
    if len(x_tr) < 2:
        raise ValueError(f"x_train: {len(x_tr)} training windows, expected at least 2")
    has_val = x_val is not None and len(x_val) > 0
    if has_val:
        x_va, y_va = _check_arrays(x_val, y_val, "x_val/y_val")
        if x_va.shape[1:] != x_tr.shape[1:]:
            raise ValueError(
                f"x_val windows are {tuple(x_va.shape[1:])}, x_train {tuple(x_tr.shape[1:])}"
            )
    device = torch.device(device)
    model.to(device)
    dtype = autocast_dtype(precision, device)
    scaler = grad_scaler(device, dtype)

    n = len(x_tr)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    # A last batch of one window would break BatchNorm in training mode: fold it away.
    if n > 1 and n % cfg.batch_size == 1:
        steps_per_epoch -= 1
    total_steps = cfg.epochs * steps_per_epoch
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    if cfg.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.max_lr_factor * cfg.lr, total_steps=max(total_steps, 2)
        )
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: _lr_factor(step, warmup_steps, total_steps)
        )
    generator = torch.Generator().manual_seed(int(seed))

    if metrics_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(metrics_path)), exist_ok=True)
        open(metrics_path, "w", encoding="utf-8").close()

    best = {"epoch": 0, "val_acc": -1.0, "val_loss": math.inf, "state": None}
    epoch = 0
    stopped_early = False
    start_time = time.perf_counter()
    fork_devices = []
    if device.type == "cuda":
        fork_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(int(seed))
        bar = tqdm(range(1, cfg.epochs + 1), desc=desc, disable=not progress, leave=False)
        for epoch in bar:
            epoch_start = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=generator)
            # Sums stay on the device so that a GPU is not synchronised at every step.
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            for step in range(steps_per_epoch):
                idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                if step == steps_per_epoch - 1:
                    idx = order[step * cfg.batch_size :]  # includes a folded single window
                xb, yb = x_tr[idx].to(device), y_tr[idx].to(device)
                with autocast(device, dtype):
                    logits = model(xb).float()
                loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                loss_sum += loss.detach() * len(idx)
                correct += (logits.argmax(dim=1) == yb).sum()
                seen += len(idx)

            record = {
                "epoch": epoch,
                "train_loss": loss_sum.item() / seen,
                "train_acc": correct.item() / seen,
                "val_loss": None,
                "val_acc": None,
                "lr": optimizer.param_groups[0]["lr"],
            }
            if has_val:
                val_loss, val_acc = _evaluate(model, x_va, y_va, device, max(512, cfg.batch_size))
                record.update(val_loss=val_loss, val_acc=val_acc)
                # Ties in accuracy go to the lower validation loss.
                if val_acc > best["val_acc"] or (
                    val_acc == best["val_acc"] and val_loss < best["val_loss"]
                ):
                    state = {
                        k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                    }
                    best.update(epoch=epoch, val_acc=val_acc, val_loss=val_loss, state=state)
            record["seconds"] = time.perf_counter() - epoch_start

            if metrics_path is not None:
                with open(metrics_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
                    handle.flush()
            postfix = {"loss": f"{record['train_loss']:.3f}"}
            if has_val:
                postfix["val_acc"] = f"{record['val_acc']:.3f}"
            bar.set_postfix(postfix)

            if has_val and cfg.patience > 0 and epoch - best["epoch"] >= cfg.patience:
                stopped_early = True
                break
        bar.close()

    if has_val:
        model.load_state_dict(best["state"])
    model.eval()
    return {
        "best_epoch": best["epoch"] if has_val else epoch,
        "best_val_acc": best["val_acc"] if has_val else None,
        "best_val_loss": best["val_loss"] if has_val else None,
        "epochs_run": epoch,
        "stopped_early": stopped_early,
        "train_seconds": time.perf_counter() - start_time,
    }


@torch.no_grad()
def _apply(
    fn: Any, model: nn.Module, x: np.ndarray, device: str | torch.device, batch_size: int
) -> np.ndarray:
    """``fn`` over ``x`` in eval mode, batch by batch; the model's mode is restored after."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x: expected windows of shape (N, n_chans, n_times), got {x.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive integer")
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    outputs = [
        fn(x_t[start : start + batch_size].to(device)).float().cpu()
        for start in range(0, len(x_t), batch_size)
    ]
    model.train(was_training)
    if not outputs:
        # No windows: run one empty batch so that the output still has the right width.
        outputs = [fn(x_t[:0].to(device)).float().cpu()]
    return torch.cat(outputs).numpy()


def predict_logits(
    model: nn.Module, x: np.ndarray, *, device: str | torch.device, batch_size: int = 512
) -> np.ndarray:
    """Logits ``(N, n_classes)`` float32 of windows ``x`` ``(N, n_chans, n_times)``."""
    return _apply(model, model, x, device, batch_size)


def extract_features(
    model: nn.Module, x: np.ndarray, *, device: str | torch.device, batch_size: int = 512
) -> np.ndarray:
    """Features ``model.encode(x)`` ``(N, feat_dim)`` float32 of windows ``(N, C, L)``."""
    if not callable(getattr(model, "encode", None)):
        raise ValueError(f"{type(model).__name__} has no encode() method to extract features")
    return _apply(model.encode, model, x, device, batch_size)
