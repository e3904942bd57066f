"""Training of the SRG generator: x0-prediction, condition dropout, EMA, resumable checkpoints.

Part of the method: semantic representation guidance (SRG, design.md section 4). Each step
draws real windows and their conditions (semantic features, or labels for the label-only
baseline), noises them to a random timestep with the DDPM forward process, replaces the condition
by the learned null condition with probability ``cond_dropout`` (so the model also learns the
unconditional prediction for classifier-free guidance) and minimises the L1 + Fourier loss of
:mod:`sasgda.diffusion.loss`. An exponential moving average of the weights is the model used for
sampling. The loop follows the diffusers training examples; every random draw comes from one
seeded ``torch.Generator`` whose state is checkpointed, so that a resumed run continues exactly
where an uninterrupted one would be.

Launched as several processes (``torchrun`` or ``accelerate launch``, one per GPU), every
process draws the same global minibatch from that generator, trains on its share of it, and
DistributedDataParallel averages the gradients: the steps are those of one process with the
whole batch, so the checkpoint and its resumption do not depend on the number of processes.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from sasgda.config import GeneratorConfig, check_config
from sasgda.diffusion.loss import diffusion_loss
from sasgda.diffusion.parameterization import check_parameterization, predict_x0
from sasgda.diffusion.schedulers import make_noise_scheduler, save_scheduler_config
from sasgda.models.unet1d import ConditionalUNet1D
from sasgda.utils.device import (
    autocast,
    autocast_dtype,
    grad_scaler,
    is_main_process,
    process_rank,
    sum_over_processes,
    world_size,
)
from sasgda.utils.io import atomic_write_bytes, atomic_write_text
from sasgda.utils.modelio import load_model, save_model, save_state_dict

log = logging.getLogger("sasgda")

LOG_EVERY = 50  # steps between metrics lines and progress-bar updates
GRAD_CLIP = 1.0


CONDITIONS = ("semantic", "label")


def build_generator(
    cfg: GeneratorConfig, *, n_chans: int, cond_dim: int, n_classes: int
) -> ConditionalUNet1D:
    """The U-Net that ``cfg`` describes: semantic (feature-conditioned) or label-only.

    Parameters
    ----------
    cfg : GeneratorConfig
        Uses ``condition``, ``base_channels``, ``channel_mults``, ``pad_mode``, ``patch``,
        ``n_cond_tokens``, ``n_heads``.
    n_chans : int
        Channels of the windows.
    cond_dim : int
        Semantic feature size D; in label mode, the width of the class-embedding tokens.
    n_classes : int
        Number of classes (used in label mode only).
    """
    if cfg.condition not in CONDITIONS:
        raise ValueError(f"condition={cfg.condition!r}: expected one of {', '.join(CONDITIONS)}")
    return ConditionalUNet1D(
        n_chans=n_chans,
        base_channels=cfg.base_channels,
        channel_mults=cfg.channel_mults,
        cond_dim=cond_dim,
        n_cond_tokens=cfg.n_cond_tokens,
        n_heads=cfg.n_heads,
        n_classes=n_classes if cfg.condition == "label" else None,
        pad_mode=cfg.pad_mode,
        patch=cfg.patch,
    )


def _check_inputs(model: ConditionalUNet1D, x: np.ndarray, cond: np.ndarray) -> None:
    if x.ndim != 3 or x.shape[1] != model.n_chans:
        raise ValueError(f"x shape {x.shape}: expected (n_windows, {model.n_chans}, n_times)")
    if len(x) == 0:
        raise ValueError("x: no training windows")
    if len(cond) != len(x):
        raise ValueError(f"cond has {len(cond)} rows for {len(x)} windows")
    if model.n_classes is None:
        if cond.ndim != 2 or cond.shape[1] != model.cond_dim:
            raise ValueError(
                f"cond shape {cond.shape}: expected features (n_windows, {model.cond_dim})"
            )
    else:
        if cond.ndim != 1 or not np.issubdtype(cond.dtype, np.integer):
            raise ValueError(f"cond shape {cond.shape} dtype {cond.dtype}: expected int labels")
        if cond.min() < 0 or cond.max() >= model.n_classes:
            raise ValueError(
                f"cond labels in [{cond.min()}, {cond.max()}]: expected 0 to {model.n_classes - 1}"
            )


def ema_decay_at(n_averaged: torch.Tensor, decay: float, warmup: bool) -> torch.Tensor:
    """Decay of the EMA update that follows ``n_averaged`` earlier updates.

    With ``warmup`` it is ``min(decay, (1 + n) / (10 + n))``, the warm-up of diffusers'
    ``EMAModel``: early updates forget quickly, so that the average soon tracks the trained
    weights. A constant 0.999 from the first step would still give the initial random weights 5 %
    of the average after 3,000 steps, which shrinks the generated windows' amplitude.
    """
    if not warmup:
        return torch.full_like(n_averaged, decay, dtype=torch.float32)
    n = n_averaged.float()
    return torch.clamp((1 + n) / (10 + n), max=decay)


def _ema_update_fn(decay: float, warmup: bool):
    """``multi_avg_fn`` for :class:`AveragedModel`: one fused lerp towards the current weights.

    The decay is computed on the device from ``n_averaged``, so that a GPU is not synchronised.
    """

    def update(ema_params, params, n_averaged):
        d = ema_decay_at(n_averaged, decay, warmup).to(ema_params[0].dtype)
        torch._foreach_mul_(ema_params, d)
        torch._foreach_add_(ema_params, torch._foreach_mul(params, 1 - d))

    return update


def _atomic_torch_save(obj: dict, path: Path) -> None:
    """``torch.save`` through :func:`~sasgda.utils.io.atomic_write_bytes` (temp file + rename),
    keeping the file it replaces as ``<name>.prev`` for :func:`_load_checkpoint`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    if path.is_file():
        os.replace(path, path.with_name(path.name + ".prev"))
    atomic_write_bytes(path, buffer.getvalue())


def _load_checkpoint(path: Path) -> dict:
    """The resume state in ``path``; when it is damaged, the one before it, saying so."""
    previous = path.with_name(path.name + ".prev")
    for candidate in (path, previous):
        if not candidate.is_file():
            continue
        try:
            state = torch.load(candidate, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for a damaged archive
            log.warning("%s: damaged (%s)", candidate, str(err).splitlines()[0])
            continue
        if candidate == previous:
            log.warning("%s: resuming from the previous checkpoint, step %d", path,
                        state["step"])
        return state
    raise ValueError(f"{path}: damaged and no earlier checkpoint to resume from; delete "
                     f"{path.parent} to train a new generator")


def _numpy_rng_state() -> dict:
    # As tensors and plain values, so that state.pt loads with ``weights_only=True``.
    state = np.random.get_state(legacy=False)
    return {
        "state": {
            "key": torch.from_numpy(state["state"]["key"].astype(np.int64)),
            "pos": int(state["state"]["pos"]),
        },
        "has_gauss": int(state["has_gauss"]),
        "gauss": float(state["gauss"]),
    }


def _set_numpy_rng_state(saved: dict) -> None:
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {
                "key": saved["state"]["key"].numpy().astype(np.uint32),
                "pos": saved["state"]["pos"],
            },
            "has_gauss": saved["has_gauss"],
            "gauss": saved["gauss"],
        }
    )


def _save_checkpoint(
    checkpoint_dir: Path,
    model: ConditionalUNet1D,
    ema: AveragedModel,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    noise_scheduler,
    generator: torch.Generator,
    step: int,
    seconds: float,
    device: torch.device,
    unlogged_losses: tuple[float, int],
) -> None:
    save_model(model, checkpoint_dir)
    save_state_dict(ema.module.state_dict(), checkpoint_dir / "ema.safetensors")
    save_scheduler_config(noise_scheduler, checkpoint_dir / "scheduler_config.json")
    # state.pt alone is enough to resume (it holds the weights too) and is written last, so a
    # crash between files never pairs weights with the optimizer state of another step.
    state = {
        "step": step,
        "seconds": seconds,
        "model_config": json.dumps(model.config, sort_keys=True),
        "model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": _numpy_rng_state(),
        # The sum and count of the losses since the last metrics line, so that a resumed run's
        # next line averages the same steps as an uninterrupted run's.
        "unlogged_losses": unlogged_losses,
    }
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    _atomic_torch_save(state, checkpoint_dir / "state.pt")


def _trim_metrics(path: Path, step: int) -> None:
    """Drop metric lines past ``step``: they came from a run that died after its last checkpoint
    (or, at step 0, from an earlier run whose checkpoint directory was emptied)."""
    if not path.is_file():
        return
    kept = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            if line.strip() and json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            # What a crash in the middle of an append leaves: the line is dropped.
            log.warning("%s: line %d is torn (a crash while it was written); dropped", path,
                        number)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def train_generator(
    model: ConditionalUNet1D,
    x: np.ndarray,
    cond: np.ndarray,
    cfg: GeneratorConfig,
    *,
    device: str | torch.device,
    seed: int,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    metrics_path: str | Path | None = None,
    precision: str = "auto",
    compile: bool = False,
) -> tuple[ConditionalUNet1D, ConditionalUNet1D]:
    """Train the conditional generator, resuming from ``checkpoint_dir/state.pt`` if it exists.

    Parameters
    ----------
    model : ConditionalUNet1D
        A freshly built model (its weights are replaced by the checkpoint's when resuming).
    x : np.ndarray, shape (n_windows, n_chans, n_times), float32
        Real training windows.
    cond : np.ndarray
        Their conditions: features (n_windows, cond_dim) float32 for a semantic model, labels
        (n_windows,) int64 for a label model.
    cfg : GeneratorConfig
        Uses ``num_train_timesteps``, ``beta_schedule``, ``parameterization``, ``cond_dropout``,
        ``lambda_fourier``, ``steps``, ``batch_size``, ``lr``, ``weight_decay``, ``ema_decay``,
        ``ema_warmup``, ``checkpoint_every``.
    device : str or torch.device
        Where to train.
    seed : int
        Seeds the generator that draws minibatches, timesteps, noise and dropout masks.
    checkpoint_dir : str or Path, optional
        Receives ``config.json``, ``model.safetensors``, ``ema.safetensors``,
        ``scheduler_config.json`` and ``state.pt`` every ``cfg.checkpoint_every`` steps and at
        the end. ``None``: nothing is written and training cannot resume.
    progress : bool
        Show a tqdm bar with the loss.
    metrics_path : str or Path, optional
        A JSON-lines file that gets ``{"step", "loss", "seconds"}`` every 50 steps.
    precision : {"auto", "fp32", "bf16", "fp16"}
        The forward passes' dtype (:func:`~sasgda.utils.device.autocast_dtype`); the loss, the
        weights and the optimizer stay in fp32.
    compile : bool
        Run the network through ``torch.compile``.

    Returns
    -------
    model : ConditionalUNet1D
        The trained model (last weights).
    ema_model : ConditionalUNet1D
        The exponential moving average of its weights, in eval mode: the model to sample with.
    """
    check_config(cfg, "generator")
    check_parameterization(cfg.parameterization)
    x = np.asarray(x)
    cond = np.asarray(cond)
    _check_inputs(model, x, cond)
    device = torch.device(device)
    n_processes, rank = world_size(), process_rank()
    if cfg.batch_size % n_processes:
        raise ValueError(f"generator.batch_size={cfg.batch_size}: must be a multiple of the "
                         f"{n_processes} processes that share it")
    main = is_main_process()
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = Path(metrics_path) if metrics_path is not None and main else None
    dtype = autocast_dtype(precision, device)

    model.to(device).train()
    noise_scheduler = make_noise_scheduler(cfg)
    # foreach: one fused update over all tensors; on CPU the default per-tensor loop costs more
    # than the forward pass of a small model.
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True
    )
    ema = AveragedModel(model, multi_avg_fn=_ema_update_fn(cfg.ema_decay, cfg.ema_warmup),
                        use_buffers=True)
    scaler = grad_scaler(device, dtype)
    # Every random draw of the loop comes from this CPU generator, so that the run is the same on
    # any device and can be resumed from its saved state.
    generator = torch.Generator().manual_seed(seed)
    step, seconds_before = 0, 0.0
    unlogged_sum, unlogged_count = 0.0, 0

    state_path = checkpoint_dir / "state.pt" if checkpoint_dir is not None else None
    if state_path is not None and state_path.is_file():
        state = _load_checkpoint(state_path)
        saved_config = state["model_config"]
        if saved_config != json.dumps(model.config, sort_keys=True):
            raise ValueError(
                f"{state_path}: checkpoint of a different model ({saved_config}); "
                "use an empty checkpoint directory for a new model"
            )
        if state["step"] > cfg.steps:
            raise ValueError(
                f"{state_path}: checkpoint is at step {state['step']}, past steps={cfg.steps}"
            )
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state.get("scaler", {}))
        generator.set_state(state["generator"])
        # Nothing below draws from the global generators, but a model with dropout would; restoring
        # them keeps a resumed run identical to an uninterrupted one in that case too.
        torch.set_rng_state(state["torch_rng"])
        _set_numpy_rng_state(state["numpy_rng"])
        if "cuda_rng" in state and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        step, seconds_before = state["step"], state["seconds"]
        unlogged_sum, unlogged_count = state.get("unlogged_losses", (0.0, 0))
    if metrics_path is not None:
        _trim_metrics(metrics_path, step)

    x_all = torch.from_numpy(x.astype(np.float32, copy=False))
    if model.n_classes is None:
        cond_all = torch.from_numpy(cond.astype(np.float32, copy=False))
    else:
        cond_all = torch.from_numpy(cond.astype(np.int64, copy=False))
    n_windows, batch_size = len(x_all), cfg.batch_size
    share = slice(rank * batch_size // n_processes, (rank + 1) * batch_size // n_processes)
    network = model
    if n_processes > 1:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        network = torch.compile(network)
    n_timesteps = noise_scheduler.config.num_train_timesteps
    alphas_cumprod = noise_scheduler.alphas_cumprod.to(device)  # once, not at every step

    start = time.perf_counter()
    # The loss is summed as a tensor and read every LOG_EVERY steps: `.item()` at every step
    # would make a GPU wait for each step to finish.
    loss_sum, loss_count = torch.tensor(unlogged_sum, device=device), unlogged_count
    with tqdm(total=cfg.steps, initial=step, disable=not (progress and main),
              desc="generator") as bar:
        while step < cfg.steps:
            # 1. A minibatch, timesteps, noise and condition-dropout mask, all from `generator`;
            # this process trains on its share of them.
            idx = torch.randint(n_windows, (batch_size,), generator=generator)
            t = torch.randint(n_timesteps, (batch_size,), generator=generator)
            noise = torch.randn((batch_size, *x_all.shape[1:]), generator=generator)
            drop_mask = torch.rand(batch_size, generator=generator) < cfg.cond_dropout
            idx, t, noise, drop_mask = idx[share], t[share], noise[share], drop_mask[share]
            x0, noise, t = x_all[idx].to(device), noise.to(device), t.to(device)
            c, drop_mask = cond_all[idx].to(device), drop_mask.to(device)

            # 2. Forward process x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise; predict x0.
            x_t = noise_scheduler.add_noise(x0, noise, t)
            with autocast(device, dtype):
                x0_hat = predict_x0(network, x_t, t, c, drop_mask=drop_mask,
                                    alphas_cumprod=alphas_cumprod,
                                    parameterization=cfg.parameterization)
            loss = diffusion_loss(x0_hat.float(), x0, cfg.lambda_fourier)

            # 3. Update, clip, then follow with the EMA.
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            scaler.step(optimizer)
            scaler.update()
            ema.update_parameters(model)
            step += 1
            bar.update(1)

            loss_sum += loss.detach()
            loss_count += 1
            seconds = seconds_before + time.perf_counter() - start
            if step % LOG_EVERY == 0 or step == cfg.steps:
                mean_loss = sum_over_processes(loss_sum).item() / loss_count / n_processes
                bar.set_postfix(loss=f"{mean_loss:.4f}")
                if metrics_path is not None:
                    line = json.dumps(
                        {"step": step, "loss": round(mean_loss, 6), "seconds": round(seconds, 3)}
                    )
                    with open(metrics_path, "a", encoding="utf-8") as handle:
                        handle.write(line + "\n")
                loss_sum, loss_count = torch.zeros((), device=device), 0
            if checkpoint_dir is not None and (step % cfg.checkpoint_every == 0
                                               or step == cfg.steps):
                # Every process takes part in the sum; the main one writes.
                unlogged = (sum_over_processes(loss_sum).item() / n_processes, loss_count)
                if main:
                    _save_checkpoint(checkpoint_dir, model, ema, optimizer, scaler,
                                     noise_scheduler, generator, step, seconds, device, unlogged)

    return model, ema.module.eval()


def fit_generator(
    cfg: GeneratorConfig,
    x: np.ndarray,
    cond: np.ndarray,
    *,
    n_classes: int,
    cond_dim: int,
    seed: int,
    device: str | torch.device,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    metrics_path: str | Path | None = None,
    precision: str = "auto",
    compile: bool = False,
) -> ConditionalUNet1D:
    """Build the generator ``cfg`` describes (weights seeded with ``seed``) and train it with
    :func:`train_generator` (which see for ``precision`` and ``compile``); returns its EMA, the
    model to sample with. ``cond_dim`` is the width of the class tokens of a label model; a
    semantic model takes the width of its features."""
    if cond.ndim == 2:
        cond_dim = cond.shape[1]
    torch.manual_seed(seed)
    model = build_generator(cfg, n_chans=x.shape[1], cond_dim=cond_dim, n_classes=n_classes)
    _, ema = train_generator(model, x, cond, cfg, device=device, seed=seed,
                             checkpoint_dir=checkpoint_dir, progress=progress,
                             metrics_path=metrics_path, precision=precision, compile=compile)
    return ema


def load_generator(
    checkpoint_dir: str | Path, device: str | torch.device = "cpu", ema: bool = True
) -> ConditionalUNet1D:
    """Rebuild a trained generator from ``checkpoint_dir`` for sampling.

    Parameters
    ----------
    checkpoint_dir : str or Path
        A directory written by :func:`train_generator`.
    device : str or torch.device
        Where to put the model.
    ema : bool
        Load the EMA weights (``ema.safetensors``, the default) or the last weights
        (``model.safetensors``).

    Returns
    -------
    ConditionalUNet1D
        In eval mode.
    """
    model = load_model(
        checkpoint_dir,
        {"ConditionalUNet1D": ConditionalUNet1D},
        name="ema" if ema else "model",
        device=device,
    )
    return model.eval()
