"""Sampling: an oracle x0 is recovered, same seed gives the same windows, guidance is wired."""

import numpy as np
import pytest
import torch
from torch import nn

from sasgda.diffusion import SOLVERS, sample
from sasgda.models.unet1d import ConditionalUNet1D


class Oracle(nn.Module):
    """Returns the true x0 of each row, which it looks up from the label it is given."""

    def __init__(self, x0: torch.Tensor):
        super().__init__()
        self.x0 = x0
        self.n_chans, self.n_classes, self.cond_dim = x0.shape[1], len(x0), None

    def forward(self, x, t, cond, drop_mask=None):
        return self.x0[cond].to(x.dtype)


def tiny_model(**overrides):
    torch.manual_seed(0)
    kwargs = dict(
        n_chans=3, base_channels=8, channel_mults=(1, 2), cond_dim=6, n_cond_tokens=2, n_heads=2
    )
    return ConditionalUNet1D(**{**kwargs, **overrides})


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("guidance_scale", [1.0, 2.5])
def test_oracle_x0_is_recovered(solver, guidance_scale):
    x0 = torch.randn(5, 3, 37, generator=torch.Generator().manual_seed(0))
    labels = np.array([4, 0, 2, 2, 1])
    out = sample(
        Oracle(x0),
        labels,
        n_times=37,
        solver=solver,
        steps=10,
        batch_size=2,
        guidance_scale=guidance_scale,
        generator=torch.Generator().manual_seed(1),
        progress=False,
    )
    assert out.shape == (5, 3, 37) and out.dtype == np.float32
    assert np.abs(out - x0[labels].numpy()).max() < 1e-4


@pytest.mark.parametrize("n_times", [40, 400, 37])
def test_shapes(n_times):
    features = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    out = sample(
        tiny_model(),
        features,
        n_times=n_times,
        steps=2,
        progress=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert out.shape == (3, 3, n_times)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("solver,eta", [("ddim", 0.0), ("ddim", 1.0), ("dpm", 0.0), ("unipc", 0.0)])
def test_same_seed_same_samples(solver, eta):
    model = tiny_model()
    features = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)

    def draw(seed, batch_size=2):
        return sample(
            model,
            features,
            n_times=20,
            solver=solver,
            steps=4,
            eta=eta,
            batch_size=batch_size,
            generator=torch.Generator().manual_seed(seed),
            progress=False,
        )

    first = draw(0)
    np.testing.assert_array_equal(first, draw(0))
    assert not np.allclose(first, draw(1))


def test_guidance_scale_zero_ignores_the_condition():
    """s = 0 leaves only the null prediction, so the condition no longer matters."""
    model = tiny_model()
    rng = np.random.default_rng(0)
    cond_a = rng.standard_normal((4, 6)).astype(np.float32)
    cond_b = rng.standard_normal((4, 6)).astype(np.float32)

    def draw(cond, scale):
        return sample(
            model,
            cond,
            n_times=16,
            steps=3,
            guidance_scale=scale,
            generator=torch.Generator().manual_seed(0),
            progress=False,
        )

    np.testing.assert_allclose(draw(cond_a, 0.0), draw(cond_b, 0.0), atol=1e-5)
    assert not np.allclose(draw(cond_a, 1.0), draw(cond_b, 1.0))
    assert not np.allclose(draw(cond_a, 3.0), draw(cond_a, 1.0))


def test_label_model_and_training_mode_restored():
    model = tiny_model(n_classes=4).train()
    out = sample(model, np.array([0, 3, 1]), n_times=12, steps=2, progress=False)
    assert out.shape == (3, 3, 12)
    assert model.training


def test_bad_arguments_raise():
    model = tiny_model()
    features = np.zeros((2, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="eta"):
        sample(model, features, n_times=8, solver="dpm", eta=0.5, progress=False)
    with pytest.raises(ValueError, match="features"):
        sample(model, np.zeros((2, 5), dtype=np.float32), n_times=8, progress=False)
    with pytest.raises(ValueError, match="labels"):
        sample(tiny_model(n_classes=3), np.array([0, 3]), n_times=8, progress=False)


def test_non_finite_windows_are_an_error():
    x0 = torch.full((2, 3, 8), float("nan"))
    with pytest.raises(ValueError, match=r"sampling \(dpm, 4 steps, eta 0\) gave non-finite"):
        sample(Oracle(x0), np.array([0, 1]), n_times=8, solver="dpm", steps=4, progress=False)
