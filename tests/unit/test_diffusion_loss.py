"""The x0 + Fourier loss: zero exactly at agreement, the FFT term as specified."""

import numpy as np
import pytest
import torch

from sasgda.diffusion.loss import diffusion_loss, fourier_l1


def test_zero_exactly_when_prediction_equals_target():
    x0 = torch.randn(4, 3, 37)
    assert fourier_l1(x0.clone(), x0).item() == 0.0
    assert diffusion_loss(x0.clone(), x0, lambda_fourier=0.5).item() == 0.0


def test_fourier_term_positive_when_they_differ():
    x0 = torch.randn(4, 3, 40)
    x0_hat = x0.clone()
    x0_hat[0, 1, 7] += 0.01
    assert fourier_l1(x0_hat, x0).item() > 0
    assert diffusion_loss(x0_hat, x0, 0.1).item() > diffusion_loss(x0_hat, x0, 0.0).item()


def test_matches_numpy_definition():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((2, 3, 41))
    x0_hat = rng.standard_normal((2, 3, 41))
    spec, spec_hat = np.fft.rfft(x0, norm="ortho"), np.fft.rfft(x0_hat, norm="ortho")
    fourier = np.abs(spec.real - spec_hat.real).mean() + np.abs(spec.imag - spec_hat.imag).mean()
    expected = np.abs(x0 - x0_hat).mean() + 0.3 * fourier
    got = diffusion_loss(torch.from_numpy(x0_hat), torch.from_numpy(x0), 0.3).item()
    assert got == pytest.approx(expected, rel=1e-10)


def test_fourier_term_does_not_depend_on_the_window_length():
    """White noise against zeros: the orthonormal spectrum keeps the signal's scale, so the
    Fourier term is about the same for 40 and 400 samples."""
    gen = torch.Generator().manual_seed(0)
    terms = [fourier_l1(torch.zeros(64, 8, n), torch.randn(64, 8, n, generator=gen)).item()
             for n in (40, 400)]
    assert terms[1] == pytest.approx(terms[0], rel=0.1)


def test_fourier_gradient_reaches_the_prediction():
    x0 = torch.randn(2, 2, 16)
    x0_hat = torch.zeros(2, 2, 16, requires_grad=True)
    fourier_l1(x0_hat, x0).backward()
    assert x0_hat.grad.abs().sum() > 0


def test_bad_arguments_raise():
    x0 = torch.randn(2, 2, 16)
    with pytest.raises(ValueError, match="shape"):
        diffusion_loss(x0[:, :, :8], x0, 0.1)
    with pytest.raises(ValueError, match="lambda_fourier"):
        diffusion_loss(x0, x0, -1.0)
