"""How the network's output becomes the predicted clean window x0.

Part of the method: the x0-prediction of SRG (design.md section 4). Two parameterizations, both
predicting x0 and trained with the same x0 loss:

- ``direct``: the network's output is x0.
- ``skip``: x0 = sqrt(abar_t) * x_t - sqrt(1 - abar_t) * output, the x0 that v-prediction
  implies (Salimans & Ho, 2022; the c_skip / c_out preconditioning of Karras et al., 2022, for
  unit-variance data). sqrt(abar_t) * x_t is the best linear guess of x0 from x_t, so the network
  only supplies the rest, scaled to unit variance at every noise level. At low noise the
  prediction is mostly x_t itself, which keeps the fine, noise-like texture of sEMG that a
  network asked to rebuild the whole window from scratch smooths away (direct x0-prediction gave
  windows with 0.74-0.85 of the real RMS amplitude on MyoUP).

The network itself stays schedule-free: the training and sampling loops call :func:`predict_x0`
with the schedule's ``alphas_cumprod``.
"""

from __future__ import annotations

import torch

from sasgda.models.unet1d import ConditionalUNet1D

PARAMETERIZATIONS = ("direct", "skip")


def check_parameterization(parameterization: str) -> None:
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"parameterization={parameterization!r}: expected one of {', '.join(PARAMETERIZATIONS)}"
        )


def predict_x0(
    model: ConditionalUNet1D,
    x_t: torch.Tensor,
    t: torch.Tensor,
    cond: torch.Tensor,
    *,
    alphas_cumprod: torch.Tensor,
    parameterization: str,
    drop_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The model's x0 for the noisy windows ``x_t`` at timesteps ``t``.

    Parameters
    ----------
    model : ConditionalUNet1D
    x_t : torch.Tensor, shape (batch, n_chans, n_times)
    t : torch.Tensor, shape (batch,) or scalar
        Integer timesteps, indices into ``alphas_cumprod``.
    cond : torch.Tensor
        Features (batch, cond_dim) or labels (batch,).
    alphas_cumprod : torch.Tensor, shape (num_train_timesteps,)
        abar of the noise schedule (``scheduler.alphas_cumprod``); loops pass it already on the
        device of ``x_t``, so that no step copies it there.
    parameterization : {"direct", "skip"}
        See the module docstring.
    drop_mask : torch.Tensor of bool, shape (batch,), optional
        Samples that get the null condition.

    Returns
    -------
    torch.Tensor, shape (batch, n_chans, n_times)
    """
    check_parameterization(parameterization)
    out = model(x_t, t, cond, drop_mask=drop_mask)
    if parameterization == "direct":
        return out
    t = torch.as_tensor(t, device=x_t.device).long()
    abar = alphas_cumprod.to(device=x_t.device, dtype=x_t.dtype)[t]
    abar = abar.expand(len(x_t)).view(-1, 1, 1)
    return abar.sqrt() * x_t - (1 - abar).sqrt() * out
