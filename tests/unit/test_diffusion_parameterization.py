"""x0 parameterizations: direct is the network's output; skip recovers x0 from the true v."""

import numpy as np
import pytest
import torch
from torch import nn

from sasgda.config import GeneratorConfig
from sasgda.diffusion import make_noise_scheduler, predict_x0, sample


class VOracle(nn.Module):
    """Returns the v = sqrt(abar) eps - sqrt(1 - abar) x0 that makes x_t from the true x0."""

    def __init__(self, x0: torch.Tensor, alphas_cumprod: torch.Tensor):
        super().__init__()
        self.x0, self.abar = x0, alphas_cumprod
        self.n_chans, self.n_classes, self.cond_dim = x0.shape[1], len(x0), None

    def forward(self, x, t, cond, drop_mask=None):
        t = torch.as_tensor(t).long().expand(len(x))
        a = self.abar[t].sqrt().view(-1, 1, 1).to(x.dtype)
        s = (1 - self.abar[t]).sqrt().view(-1, 1, 1).to(x.dtype)
        x0 = self.x0[cond].to(x.dtype)
        eps = (x - a * x0) / s
        return a * eps - s * x0


def test_direct_returns_the_network_output():
    x0 = torch.randn(3, 2, 9)
    oracle = VOracle(x0, torch.linspace(0.99, 0.01, 100))
    x_t, t, cond = torch.randn(3, 2, 9), torch.tensor([0, 50, 99]), torch.tensor([2, 0, 1])
    out = predict_x0(oracle, x_t, t, cond, alphas_cumprod=oracle.abar, parameterization="direct")
    assert torch.equal(out, oracle(x_t, t, cond))


def test_skip_recovers_x0_from_the_true_v():
    scheduler = make_noise_scheduler(GeneratorConfig())
    x0 = torch.randn(4, 3, 20, dtype=torch.float64)
    oracle = VOracle(x0, scheduler.alphas_cumprod.double())
    t = torch.tensor([0, 10, 500, 999])
    x_t = scheduler.add_noise(x0, torch.randn_like(x0), t)
    out = predict_x0(oracle, x_t, t, torch.arange(4), alphas_cumprod=scheduler.alphas_cumprod,
                     parameterization="skip")
    assert torch.allclose(out, x0, atol=1e-6)


def test_skip_sampling_with_the_true_v_returns_x0():
    scheduler = make_noise_scheduler(GeneratorConfig())
    x0 = torch.randn(3, 2, 16, generator=torch.Generator().manual_seed(0))
    out = sample(VOracle(x0, scheduler.alphas_cumprod), np.array([2, 0, 1]), n_times=16,
                 steps=10, parameterization="skip", generator=torch.Generator().manual_seed(1),
                 progress=False)
    assert np.abs(out - x0[[2, 0, 1]].numpy()).max() < 1e-4


def test_unknown_parameterization_is_an_error():
    with pytest.raises(ValueError, match="parameterization='eps'"):
        predict_x0(VOracle(torch.zeros(1, 1, 4), torch.ones(10)), torch.zeros(1, 1, 4),
                   torch.tensor([0]), torch.tensor([0]), alphas_cumprod=torch.ones(10),
                   parameterization="eps")
