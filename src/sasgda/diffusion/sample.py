"""Sampling from the SRG generator: DDIM, DPM-Solver++ or UniPC from noise, with optional guidance.

Part of the method: offline generation of synthetic windows (design.md sections 1 and 4). Given
a condition per window (a real, GMSS or SASS feature, or a label for the label-only baseline),
the sampler starts from Gaussian noise and applies the x0-predicting network at each of its
timesteps. With ``guidance_scale`` s != 1 the prediction is classifier-free guided,
x0 = x0_null + s * (x0_cond - x0_null), the null prediction coming from the learned null
condition in the same batched forward pass. The loop is the diffusers pipeline loop, with the
network passed in as an argument.

Launched as several processes (``torchrun`` or ``accelerate launch``), each process samples every
n-th batch and skips the random draws of the others, so that every process ends with the windows
a single process makes from the same seed.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from sasgda.config import Config, GeneratorConfig, SamplerConfig
from sasgda.diffusion.parameterization import check_parameterization, predict_x0
from sasgda.diffusion.schedulers import make_sampler
from sasgda.models.unet1d import ConditionalUNet1D
from sasgda.utils.device import (
    autocast,
    autocast_dtype,
    is_main_process,
    process_rank,
    sum_over_processes,
    world_size,
)


def _guided_x0(
    model: ConditionalUNet1D,
    x_t: torch.Tensor,
    t: torch.Tensor,
    cond: torch.Tensor,
    guidance_scale: float,
    **x0_kwargs,
) -> torch.Tensor:
    """The model's x0 for x_t (batch, n_chans, n_times), guided when ``guidance_scale != 1``.

    ``x0_kwargs`` (``alphas_cumprod``, ``parameterization``) go to :func:`predict_x0`.
    """
    if guidance_scale == 1.0:
        return predict_x0(model, x_t, t, cond, **x0_kwargs)
    batch = len(x_t)
    # One forward pass for both halves: conditional first, then null (the condition values of
    # the null half are ignored; only the mask matters).
    drop_mask = torch.arange(2 * batch, device=x_t.device) >= batch
    x0_cond, x0_null = predict_x0(
        model, torch.cat([x_t, x_t]), t, torch.cat([cond, cond]), drop_mask=drop_mask,
        **x0_kwargs,
    ).chunk(2)
    return x0_null + guidance_scale * (x0_cond - x0_null)


def sample(
    model: ConditionalUNet1D,
    cond: np.ndarray,
    *,
    n_times: int,
    solver: str = SamplerConfig.solver,
    steps: int = SamplerConfig.steps,
    timestep_spacing: str = SamplerConfig.timestep_spacing,
    eta: float = SamplerConfig.eta,
    guidance_scale: float = SamplerConfig.guidance_scale,
    num_train_timesteps: int = GeneratorConfig.num_train_timesteps,
    beta_schedule: str = GeneratorConfig.beta_schedule,
    parameterization: str = GeneratorConfig.parameterization,
    batch_size: int = SamplerConfig.batch_size,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    precision: str = "auto",
    compile: bool = False,
) -> np.ndarray:
    """Generate one window per condition.

    Parameters
    ----------
    model : ConditionalUNet1D
        The trained generator (usually its EMA, see :func:`sasgda.diffusion.load_generator`).
    cond : np.ndarray
        Features (n, cond_dim) float32 for a semantic model, labels (n,) int64 for a label model.
    n_times : int
        Window length to generate.
    solver : {"ddim", "dpm", "unipc"}
        DDIM, multistep DPM-Solver++ or UniPC (neither of which has ``eta``).
    steps : int
        Sampler steps.
    timestep_spacing : {"trailing", "linspace", "leading"}
        Where the steps fall (:func:`~sasgda.diffusion.schedulers.make_sampler`).
    eta : float
        DDIM stochasticity in [0, 1]: 0 is the deterministic DDIM, 1 the DDPM posterior.
    guidance_scale : float
        Classifier-free guidance scale; 1.0 is plain conditional sampling.
    num_train_timesteps, beta_schedule :
        The training schedule (:class:`GeneratorConfig` ``num_train_timesteps`` and
        ``beta_schedule``); the sampler must use the same betas.
    parameterization : {"direct", "skip"}
        How the network's output becomes x0, as in training
        (:mod:`~sasgda.diffusion.parameterization`).
    batch_size : int
        Windows per forward pass (guidance doubles the pass).
    generator : torch.Generator, optional
        Source of the initial noise and of DDIM's noise when ``eta > 0``; the same seed gives the
        same windows. ``None`` draws from torch's global generator.
    device : str or torch.device
        Where the model runs.
    progress : bool
        Show a tqdm bar over the batches.
    precision : {"auto", "fp32", "bf16", "fp16"}
        The network's dtype (:func:`~sasgda.utils.device.autocast_dtype`); the sampler's
        updates stay in fp32.
    compile : bool
        Run the network through ``torch.compile``.

    Returns
    -------
    np.ndarray, shape (n, n_chans, n_times), float32
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta={eta}: expected a value in [0, 1]")
    if eta != 0.0 and solver != "ddim":
        raise ValueError(f"eta={eta}: only the ddim solver has eta; use eta=0 with {solver!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: expected a positive integer")
    if n_times < 1:
        raise ValueError(f"n_times={n_times}: expected a positive integer")
    check_parameterization(parameterization)
    cond = np.asarray(cond)
    if model.n_classes is None:
        if cond.ndim != 2 or cond.shape[1] != model.cond_dim:
            raise ValueError(f"cond shape {cond.shape}: expected features (n, {model.cond_dim})")
        cond_all = torch.from_numpy(cond.astype(np.float32, copy=False))
    else:
        if cond.ndim != 1 or not np.issubdtype(cond.dtype, np.integer):
            raise ValueError(f"cond shape {cond.shape} dtype {cond.dtype}: expected int labels")
        if len(cond) and (cond.min() < 0 or cond.max() >= model.n_classes):
            raise ValueError(
                f"cond labels in [{cond.min()}, {cond.max()}]: expected 0 to {model.n_classes - 1}"
            )
        cond_all = torch.from_numpy(cond.astype(np.int64, copy=False))

    device = torch.device(device)
    dtype = autocast_dtype(precision, device)
    network = torch.compile(model) if compile else model
    n_processes, rank = world_size(), process_rank()
    # DDIM with eta > 0 draws noise of the batch's shape at every step.
    draws_per_step = int(solver == "ddim" and eta > 0)
    schedule = GeneratorConfig(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule)
    sampler = make_sampler(solver, schedule, steps, timestep_spacing)
    # Only DDIM draws noise in its steps (with eta > 0); DPM-Solver++ and UniPC are deterministic.
    step_kwargs = {"eta": eta, "generator": generator} if solver == "ddim" else {}
    # On the model's device once, not at every step.
    x0_kwargs = dict(alphas_cumprod=sampler.alphas_cumprod.to(device),
                     parameterization=parameterization)
    was_training = model.training
    model.eval()
    out = np.zeros((len(cond), model.n_chans, n_times), dtype=np.float32)
    starts = range(0, len(cond), batch_size)
    with torch.inference_mode():
        bar = tqdm(starts, disable=not (progress and is_main_process()),
                   desc=f"sampling ({solver}, {steps} steps)")
        for batch, start in enumerate(bar):
            c = cond_all[start : start + batch_size].to(device)
            shape = (len(c), model.n_chans, n_times)
            # The noise is drawn where the generator lives, so a CPU seed gives the same windows
            # whichever device runs the model.
            noise_device = generator.device if generator is not None else device
            x = torch.randn(shape, generator=generator, device=noise_device)
            if batch % n_processes != rank:  # another process's batch: only its draws
                for _ in range(draws_per_step * steps):
                    torch.randn(shape, generator=generator, device=noise_device)
                continue
            x = x.to(device) * sampler.init_noise_sigma
            # Resets the multistep solver's history for this batch.
            sampler.set_timesteps(steps)  # keeps the spacing it was made with
            for t in sampler.timesteps:
                with autocast(device, dtype):
                    x0_hat = _guided_x0(network, x, t.to(device), c, guidance_scale,
                                        **x0_kwargs)
                x0_hat = x0_hat.float()
                x = sampler.step(x0_hat, t, x, **step_kwargs).prev_sample
            out[start : start + len(c)] = x.float().cpu().numpy()
    model.train(was_training)
    if n_processes > 1:  # the others' batches are zeros here: the sum puts every batch together
        out = sum_over_processes(torch.from_numpy(out).to(device)).cpu().numpy()
    if not np.isfinite(out).all():  # never hand on windows that would poison what trains on them
        raise ValueError(f"sampling ({solver}, {steps} steps, eta {eta:g}) gave non-finite "
                         "windows: a generator whose training diverged, or a sampler too coarse "
                         "for it (DDIM with eta > 0 at under 10 steps); try more steps or eta=0")
    return out


def sample_with_config(
    model: ConditionalUNet1D,
    cond: np.ndarray,
    *,
    n_times: int,
    cfg: Config,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """:func:`sample` with the sampler of ``cfg.sampler``, the noise schedule and
    parameterization of ``cfg.generator`` (those the model was trained with) and the precision
    and compilation of ``cfg``."""
    g, schedule = cfg.sampler, cfg.generator
    return sample(model, cond, n_times=n_times, solver=g.solver, steps=g.steps,
                  timestep_spacing=g.timestep_spacing, eta=g.eta,
                  guidance_scale=g.guidance_scale,
                  num_train_timesteps=schedule.num_train_timesteps,
                  beta_schedule=schedule.beta_schedule,
                  parameterization=schedule.parameterization, batch_size=g.batch_size,
                  generator=generator, device=device, progress=progress,
                  precision=cfg.precision, compile=cfg.compile)
