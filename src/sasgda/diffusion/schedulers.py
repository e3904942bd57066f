"""Noise schedules for SRG: DDPM for training; DDIM, DPM-Solver++ or UniPC for sampling.

Part of the method: the diffusion process of the conditional generator (design.md section 4):
cosine schedule (``squaredcos_cap_v2``), T = 1000, x0-prediction (``prediction_type="sample"``)
and no clipping (sEMG windows are z-scored, not bounded to [-1, 1]). The schedulers are those of
``diffusers``; this module only fixes their arguments so that training and sampling share the
same betas, and reads/writes the scheduler config as JSON without touching the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    UniPCMultistepScheduler,
)

from sasgda.config import GeneratorConfig
from sasgda.utils.io import atomic_write_text, load_json

SOLVERS = ("ddim", "dpm", "unipc")
TIMESTEP_SPACINGS = ("trailing", "linspace", "leading")

# The keys that define the forward process; a sampler built from them has the training betas.
_SCHEDULE_KEYS = ("num_train_timesteps", "beta_schedule", "beta_start", "beta_end", "trained_betas")


def make_noise_scheduler(cfg: GeneratorConfig | Mapping[str, Any]) -> DDPMScheduler:
    """The DDPM scheduler whose ``add_noise`` makes the training inputs x_t.

    Parameters
    ----------
    cfg : GeneratorConfig or mapping
        A generator config (``num_train_timesteps``, ``beta_schedule``), or a scheduler config as
        saved in ``scheduler_config.json``.
    """
    if isinstance(cfg, GeneratorConfig):
        if cfg.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps={cfg.num_train_timesteps}: expected at least 2")
        try:
            return DDPMScheduler(
                num_train_timesteps=cfg.num_train_timesteps,
                beta_schedule=cfg.beta_schedule,
                prediction_type="sample",
                clip_sample=False,
            )
        except NotImplementedError:  # diffusers' answer to a schedule it does not know
            raise ValueError(
                f"generator.beta_schedule={cfg.beta_schedule!r}: expected a diffusers schedule "
                "such as squaredcos_cap_v2 (cosine), linear or scaled_linear"
            ) from None
    return DDPMScheduler.from_config(dict(cfg), prediction_type="sample", clip_sample=False)


def make_sampler(
    solver: str, cfg: GeneratorConfig | Mapping[str, Any], steps: int,
    timestep_spacing: str = "trailing",
) -> DDIMScheduler | DPMSolverMultistepScheduler | UniPCMultistepScheduler:
    """A sampling scheduler with the training betas, its timesteps set to ``steps`` steps.

    ``"trailing"`` and ``"linspace"`` timesteps start at T - 1, where the sampler's pure noise
    really is x_T (``"leading"`` starts lower); trailing ends one stride above 0, linspace at 0.
    DDIM sets the final alpha to one so that its last step returns the model's x0 without
    residual noise (DPM-Solver++ and UniPC do the same with ``final_sigmas_type``).

    Parameters
    ----------
    solver : {"ddim", "dpm", "unipc"}
        DDIM (``eta`` is given to :meth:`DDIMScheduler.step`), multistep DPM-Solver++ (order 2)
        or UniPC (order 2, its corrector reusing each step's network output, so no extra
        evaluation).
    cfg : GeneratorConfig or mapping
        The generator config or the saved training scheduler config.
    steps : int
        Number of sampling steps, 1 to ``num_train_timesteps``.
    timestep_spacing : {"trailing", "linspace", "leading"}
        diffusers' spacing of the steps.
    """
    if timestep_spacing not in TIMESTEP_SPACINGS:
        raise ValueError(f"timestep_spacing={timestep_spacing!r}: expected one of "
                         f"{', '.join(TIMESTEP_SPACINGS)}")
    schedule = {k: v for k, v in make_noise_scheduler(cfg).config.items() if k in _SCHEDULE_KEYS}
    if not 1 <= steps <= schedule["num_train_timesteps"]:
        raise ValueError(
            f"steps={steps}: expected 1 to num_train_timesteps={schedule['num_train_timesteps']}"
        )
    if solver == "ddim":
        sampler = DDIMScheduler(
            **schedule,
            prediction_type="sample",
            clip_sample=False,
            set_alpha_to_one=True,
            timestep_spacing=timestep_spacing,
        )
    elif solver == "dpm":
        sampler = DPMSolverMultistepScheduler(
            **schedule,
            prediction_type="sample",
            algorithm_type="dpmsolver++",
            solver_order=2,
            final_sigmas_type="zero",
            timestep_spacing=timestep_spacing,
        )
    elif solver == "unipc":
        sampler = UniPCMultistepScheduler(
            **schedule,
            prediction_type="sample",
            solver_order=2,
            final_sigmas_type="zero",
            timestep_spacing=timestep_spacing,
        )
    else:
        raise ValueError(f"solver={solver!r}: expected one of {', '.join(SOLVERS)}")
    sampler.set_timesteps(steps)
    return sampler


def save_scheduler_config(scheduler: DDPMScheduler, path: str | Path) -> Path:
    """Write the scheduler's config as JSON, atomically (``scheduler_config.json``)."""
    return atomic_write_text(path, scheduler.to_json_string())


def load_scheduler_config(path: str | Path) -> dict[str, Any]:
    """Read a config written by :func:`save_scheduler_config` (a plain dict, no hub access)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scheduler config not found")
    try:
        return load_json(path)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
