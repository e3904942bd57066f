"""SRG's training loss: L1 on x0 plus an L1 on the real and imaginary parts of its spectrum.

Part of the method: the x0-prediction objective of the conditional generator (design.md
section 4). The paper trains with a time-domain and a Fourier-domain term; the project's choice
is L = L1(x0, x0_hat) + lambda_F * [L1(Re F(x0), Re F(x0_hat)) + L1(Im F(x0), Im F(x0_hat))],
F the real FFT over time with ``norm="ortho"``: by Parseval the spectrum then has the window's
own scale whatever its length, so one lambda_F weighs the two terms alike for 40-sample and
400-sample windows (with ``norm="forward"`` the term would shrink as 1 / sqrt(L)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fourier_l1(x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """L1 between the real and between the imaginary parts of the spectra over time.

    Parameters
    ----------
    x0_hat, x0 : torch.Tensor, shape (batch, n_chans, n_times)

    Returns
    -------
    torch.Tensor, scalar
    """
    spec_hat = torch.fft.rfft(x0_hat, dim=-1, norm="ortho")
    spec = torch.fft.rfft(x0, dim=-1, norm="ortho")
    return F.l1_loss(spec_hat.real, spec.real) + F.l1_loss(spec_hat.imag, spec.imag)


def diffusion_loss(x0_hat: torch.Tensor, x0: torch.Tensor, lambda_fourier: float) -> torch.Tensor:
    """The x0-prediction loss: time-domain L1 plus ``lambda_fourier`` times :func:`fourier_l1`.

    Parameters
    ----------
    x0_hat : torch.Tensor, shape (batch, n_chans, n_times)
        The model's prediction of the clean windows.
    x0 : torch.Tensor, shape (batch, n_chans, n_times)
        The clean windows.
    lambda_fourier : float
        Weight of the Fourier term, >= 0 (0 turns it off).

    Returns
    -------
    torch.Tensor, scalar
    """
    if x0_hat.shape != x0.shape:
        raise ValueError(f"x0_hat shape {tuple(x0_hat.shape)} != x0 shape {tuple(x0.shape)}")
    if lambda_fourier < 0:
        raise ValueError(f"lambda_fourier={lambda_fourier}: expected a value >= 0")
    loss = F.l1_loss(x0_hat, x0)
    if lambda_fourier > 0:
        loss = loss + lambda_fourier * fourier_l1(x0_hat, x0)
    return loss
