"""Schedulers: training and sampling share the betas; DDIM with the exact x0 recovers it."""

import socket

import pytest
import torch

from sasgda.config import GeneratorConfig
from sasgda.diffusion.schedulers import (
    SOLVERS,
    load_scheduler_config,
    make_noise_scheduler,
    make_sampler,
    save_scheduler_config,
)

CFG = GeneratorConfig()


def test_noise_scheduler_is_cosine_x0_unclipped():
    scheduler = make_noise_scheduler(CFG)
    assert scheduler.config.num_train_timesteps == 1000
    assert scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert scheduler.config.prediction_type == "sample"
    assert scheduler.config.clip_sample is False
    abar = scheduler.alphas_cumprod
    assert abar[0] > 0.999 and abar[-1] < 1e-3
    assert (abar[1:] < abar[:-1]).all()


@pytest.mark.parametrize("solver", SOLVERS)
def test_sampler_has_the_training_betas(solver):
    sampler = make_sampler(solver, CFG, steps=25)
    torch.testing.assert_close(sampler.alphas_cumprod, make_noise_scheduler(CFG).alphas_cumprod)
    assert len(sampler.timesteps) == 25
    assert int(sampler.timesteps[0]) == 999  # starts where the noise is pure


def test_ddim_with_exact_x0_follows_the_forward_process():
    """An oracle that returns the true x0: DDIM (eta 0) retraces x_t = add_noise(x0, noise, t)
    with the very noise it started from, and ends at x0."""
    train = make_noise_scheduler(CFG)
    sampler = make_sampler("ddim", CFG, steps=50)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 40, generator=gen, dtype=torch.float64)
    noise = torch.randn(4, 3, 40, generator=gen, dtype=torch.float64)
    timesteps = sampler.timesteps
    x = train.add_noise(x0, noise, timesteps[:1].repeat(4))
    for i, t in enumerate(timesteps):
        x = sampler.step(x0, t, x, eta=0.0).prev_sample
        if i + 1 < len(timesteps):
            expected = train.add_noise(x0, noise, timesteps[i + 1 : i + 2].repeat(4))
            torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)
    assert (x - x0).abs().max() < 1e-4


@pytest.mark.parametrize("spacing, last", [("trailing", 39), ("linspace", 0)])
def test_timestep_spacing_sets_the_first_and_last_step(spacing, last):
    sampler = make_sampler("ddim", CFG, steps=25, timestep_spacing=spacing)
    assert int(sampler.timesteps[0]) == 999 and int(sampler.timesteps[-1]) == last
    # Whatever the spacing, the last DDIM step returns the model's x0.
    x0 = torch.randn(2, 3, 40)
    x = torch.randn(2, 3, 40)
    for t in sampler.timesteps:
        x = sampler.step(x0, t, x, eta=0.0).prev_sample
    assert (x - x0).abs().max() < 1e-4


def test_dpm_with_exact_x0_ends_at_x0():
    sampler = make_sampler("dpm", CFG, steps=20)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(2, 3, 37, generator=gen)
    x = torch.randn(2, 3, 37, generator=gen)
    for t in sampler.timesteps:
        x = sampler.step(x0, t, x).prev_sample
    assert (x - x0).abs().max() < 1e-4


def test_scheduler_config_round_trip_offline(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    path = tmp_path / "scheduler_config.json"
    save_scheduler_config(make_noise_scheduler(GeneratorConfig(num_train_timesteps=500)), path)
    config = load_scheduler_config(path)
    assert config["num_train_timesteps"] == 500
    rebuilt = make_noise_scheduler(config)
    expected = make_noise_scheduler(GeneratorConfig(num_train_timesteps=500))
    torch.testing.assert_close(rebuilt.alphas_cumprod, expected.alphas_cumprod)
    torch.testing.assert_close(
        make_sampler("ddim", config, 10).alphas_cumprod, expected.alphas_cumprod
    )


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="solver"):
        make_sampler("euler", CFG, 10)
    with pytest.raises(ValueError, match="steps"):
        make_sampler("ddim", CFG, 0)
    with pytest.raises(ValueError, match="timestep_spacing='even'"):
        make_sampler("ddim", CFG, 10, timestep_spacing="even")
    with pytest.raises(FileNotFoundError):
        load_scheduler_config(tmp_path / "missing.json")


def test_unknown_beta_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="generator.beta_schedule='foo'"):
        make_noise_scheduler(GeneratorConfig(beta_schedule="foo"))
