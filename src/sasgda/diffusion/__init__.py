"""SRG's diffusion process: schedulers, the x0 + Fourier loss, generator training and sampling.

The network (:class:`sasgda.models.unet1d.ConditionalUNet1D`), the noise schedule
(:mod:`~sasgda.diffusion.schedulers`) and the loops (:mod:`~sasgda.diffusion.train`,
:mod:`~sasgda.diffusion.sample`) are kept apart, as in diffusers: the network knows no schedule
and the schedulers know no network.
"""

from sasgda.diffusion.loss import diffusion_loss, fourier_l1
from sasgda.diffusion.parameterization import PARAMETERIZATIONS, predict_x0
from sasgda.diffusion.sample import sample, sample_with_config
from sasgda.diffusion.schedulers import (
    SOLVERS,
    load_scheduler_config,
    make_noise_scheduler,
    make_sampler,
    save_scheduler_config,
)
from sasgda.diffusion.train import (
    CONDITIONS,
    build_generator,
    fit_generator,
    load_generator,
    train_generator,
)

__all__ = [
    "CONDITIONS",
    "PARAMETERIZATIONS",
    "SOLVERS",
    "build_generator",
    "diffusion_loss",
    "fit_generator",
    "fourier_l1",
    "load_generator",
    "load_scheduler_config",
    "make_noise_scheduler",
    "make_sampler",
    "predict_x0",
    "sample",
    "sample_with_config",
    "save_scheduler_config",
    "train_generator",
]
