"""SRG's denoiser: a conditional 1D U-Net with cross-attention to condition tokens.

Part of the method: semantic representation guidance (SRG, design.md section 4). The network
predicts the clean window x0 from a noisy window x_t, the timestep t and a condition. In
*semantic* mode the condition is the task-aware classifier's feature (batch, cond_dim), projected
to ``n_cond_tokens`` tokens; in *label* mode (the label-only baseline) a class embedding makes the
tokens, and the rest of the network is the same. A learned null condition replaces the tokens of
the samples marked in ``drop_mask``: trained with condition dropout, it gives the unconditional
prediction that classifier-free guidance needs.

Adapted from the DDPM / improved-diffusion U-Net (residual blocks with GroupNorm, SiLU and a
timestep embedding, skip connections between levels) and from the cross-attention of latent
diffusion (queries from the U-Net features over time, keys and values from the condition tokens),
written for 1D signals and kept small so that it trains on a laptop CPU. It knows nothing of the
noise schedule (see :mod:`sasgda.diffusion`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PAD_MODES = ("zeros", "reflect")


def _groups(channels: int) -> int:
    """GroupNorm groups: 32 where the width allows it, else the largest divisor of 32 that fits."""
    return math.gcd(32, channels)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al.; as in DDPM).

    Parameters
    ----------
    t : torch.Tensor, shape (batch,)
        Timesteps.
    dim : int
        Embedding size (even).

    Returns
    -------
    torch.Tensor, shape (batch, dim)
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock1D(nn.Module):
    """GroupNorm-SiLU-conv twice, with the timestep embedding added in between, plus a skip."""

    def __init__(self, in_channels: int, out_channels: int, temb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.temb = nn.Linear(temb_dim, out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv1d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """x (batch, in_channels, n_times), temb (batch, temb_dim) -> (batch, out_channels, ...)."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb)[:, :, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class CrossAttention1D(nn.Module):
    """Residual cross-attention: every time step of the features attends to the condition tokens.

    The parameters are those of textbook multi-head attention: queries ``to_q`` from the
    normalised features, keys and values ``to_kv`` from the tokens, output projection ``to_out``.
    The forward pass moves both projections onto the handful of tokens, which gives the same
    result: a head's score is ``(W_q n) . k = n . (W_q^T k)``, and its share of the output is
    ``W_o (sum_j a_j v_j) = sum_j a_j (W_o v_j)``. The per-time-step work then shrinks from two
    channels x channels projections to products with ``n_heads * n_tokens`` vectors. In
    interleaved runs of the training loop and the sampler on 2 CPU cores, against the textbook
    order of operations, this sampled 12 x 400 windows about 1.3x faster and trained the
    1.86 M model (base_channels 48) about 1.15x faster; the default model at 8 x 40 changed
    little.
    """

    def __init__(self, channels: int, cond_dim: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.to_q = nn.Conv1d(channels, channels, 1, bias=False)
        self.to_kv = nn.Linear(cond_dim, 2 * channels, bias=False)
        self.to_out = nn.Conv1d(channels, channels, 1)

    def forward(self, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """h (batch, channels, n_times), tokens (batch, n_tokens, cond_dim) -> like h."""
        batch, channels, n_times = h.shape
        n_heads, head_dim = self.n_heads, channels // self.n_heads
        n_tokens = tokens.shape[1]
        k, v = self.to_kv(tokens).view(batch, n_tokens, 2, n_heads, head_dim).unbind(2)
        # Keys seen from the features' channels, W_q,h^T k (scaled as in softmax attention), and
        # values already through W_o: both (batch, n_heads * n_tokens, channels).
        w_q = self.to_q.weight.view(n_heads, head_dim, channels)
        w_out = self.to_out.weight.view(channels, n_heads, head_dim)
        keys = torch.einsum("bthd,hdc->bhtc", k, w_q * head_dim**-0.5)
        values = torch.einsum("bthd,chd->bhtc", v, w_out)
        keys = keys.reshape(batch, n_heads * n_tokens, channels)
        values = values.reshape(batch, n_heads * n_tokens, channels)
        # Scores (batch, n_heads, n_tokens, n_times), softmax over each head's tokens.
        scores = torch.bmm(keys, self.norm(h)).view(batch, n_heads, n_tokens, n_times)
        weights = scores.softmax(dim=2).view(batch, n_heads * n_tokens, n_times)
        return h + torch.bmm(values.transpose(1, 2), weights) + self.to_out.bias[:, None]


class ConditionalUNet1D(nn.Module):
    """Conditional 1D U-Net predicting x0 from (x_t, t, condition).

    Each level has one residual block followed by cross-attention to the condition tokens, on the
    way down, in the middle and on the way up; levels are joined by strided-conv downsampling and
    nearest-neighbour upsampling, with skip connections between matching levels.

    Parameters
    ----------
    n_chans : int
        Channels of the signal.
    base_channels : int
        Width of the first level; level ``i`` has ``base_channels * channel_mults[i]`` channels.
    channel_mults : tuple of int
        Width multipliers, one per level; ``len(channel_mults) - 1`` halvings of the time axis.
    cond_dim : int
        Size of the semantic feature (semantic mode) and of every condition token.
    n_cond_tokens : int
        Number of condition tokens the feature (or class embedding) is turned into.
    n_heads : int
        Attention heads; must divide every level's width.
    pad_mode : {"zeros", "reflect"}
        How a window is padded to a multiple of ``patch * 2 ** (len(channel_mults) - 1)``
        samples inside the network: zeros, or the window reflected at its end (no step at the
        edge for the convolutions to reproduce).
    patch : int
        Consecutive samples folded into the channels before the first level (and unfolded after
        the last): the U-Net runs on ``n_times / patch`` steps of ``n_chans * patch`` channels,
        about ``patch`` times less work per window. For long windows (400 samples at 2 kHz);
        1 leaves the window as it is.
    n_classes : int or None
        ``None``: semantic mode, the condition is a feature (batch, cond_dim) float32. An integer:
        label mode, the condition is a label (batch,) int64 in ``[0, n_classes)``.
    """

    def __init__(
        self,
        *,
        n_chans: int,
        base_channels: int = 64,
        channel_mults: tuple[int, ...] = (1, 2, 4),
        cond_dim: int = 128,
        n_cond_tokens: int = 4,
        n_heads: int = 4,
        n_classes: int | None = None,
        pad_mode: str = "zeros",
        patch: int = 1,
    ):
        super().__init__()
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode={pad_mode!r}: expected one of {', '.join(PAD_MODES)}")
        channel_mults = tuple(int(m) for m in channel_mults)
        for name, value in dict(
            n_chans=n_chans,
            base_channels=base_channels,
            cond_dim=cond_dim,
            n_cond_tokens=n_cond_tokens,
            n_heads=n_heads,
            patch=patch,
        ).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a positive integer")
        if not channel_mults or min(channel_mults) < 1:
            raise ValueError(f"channel_mults={channel_mults!r}: expected positive integers")
        widths = [base_channels * m for m in channel_mults]
        if any(w % n_heads for w in widths):
            raise ValueError(
                f"n_heads={n_heads}: must divide every level's width {widths} "
                "(base_channels * channel_mults)"
            )
        if base_channels % 2:
            raise ValueError(f"base_channels={base_channels}: expected an even number")
        if n_classes is not None and (
            isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1
        ):
            raise ValueError(f"n_classes={n_classes!r}: expected None or a positive integer")
        self.config = dict(
            n_chans=n_chans,
            base_channels=base_channels,
            channel_mults=channel_mults,
            cond_dim=cond_dim,
            n_cond_tokens=n_cond_tokens,
            n_heads=n_heads,
            n_classes=n_classes,
            pad_mode=pad_mode,
            patch=patch,
        )
        self.pad_mode = "constant" if pad_mode == "zeros" else pad_mode
        self.n_chans = n_chans
        self.base_channels = base_channels
        self.cond_dim = cond_dim
        self.n_cond_tokens = n_cond_tokens
        self.n_classes = n_classes
        self.patch = patch
        self.time_multiple = patch * 2 ** (len(widths) - 1)

        # Timestep: sinusoidal features, then an MLP shared by every block.
        temb_dim = 4 * base_channels
        self.temb_mlp = nn.Sequential(
            nn.Linear(base_channels, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim)
        )

        # Condition tokens (batch, n_cond_tokens, cond_dim) and the learned null condition.
        if n_classes is None:
            self.cond_embed = nn.Linear(cond_dim, n_cond_tokens * cond_dim)
        else:
            self.cond_embed = nn.Embedding(n_classes, n_cond_tokens * cond_dim)
        self.cond_norm = nn.LayerNorm(cond_dim)
        self.null_tokens = nn.Parameter(torch.randn(n_cond_tokens, cond_dim) * 0.02)

        self.conv_in = nn.Conv1d(n_chans * patch, base_channels, 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.down_attns = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        in_ch = base_channels
        for i, width in enumerate(widths):
            self.down_blocks.append(ResBlock1D(in_ch, width, temb_dim))
            self.down_attns.append(CrossAttention1D(width, cond_dim, n_heads))
            last = i == len(widths) - 1
            self.downsamples.append(
                nn.Identity() if last else nn.Conv1d(width, width, 3, stride=2, padding=1)
            )
            in_ch = width

        self.mid_block = ResBlock1D(in_ch, in_ch, temb_dim)
        self.mid_attn = CrossAttention1D(in_ch, cond_dim, n_heads)

        self.up_blocks = nn.ModuleList()
        self.up_attns = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i, width in reversed(list(enumerate(widths))):
            self.up_blocks.append(ResBlock1D(in_ch + width, width, temb_dim))
            self.up_attns.append(CrossAttention1D(width, cond_dim, n_heads))
            # Nearest-neighbour upsampling without a conv of its own: the next level's residual
            # block convolves it together with the skip, which saves a full-width conv per level.
            self.upsamples.append(
                nn.Identity() if i == 0 else nn.Upsample(scale_factor=2, mode="nearest")
            )
            in_ch = width

        self.norm_out = nn.GroupNorm(_groups(in_ch), in_ch)
        self.conv_out = nn.Conv1d(in_ch, n_chans * patch, 3, padding=1)

    def condition_tokens(
        self, cond: torch.Tensor, drop_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Turn a condition into tokens, with the null tokens where ``drop_mask`` is true.

        Parameters
        ----------
        cond : torch.Tensor
            Features (batch, cond_dim) float in semantic mode, labels (batch,) int64 in label mode.
        drop_mask : torch.Tensor of bool, shape (batch,), optional
            Samples whose condition is replaced by the learned null condition.

        Returns
        -------
        torch.Tensor, shape (batch, n_cond_tokens, cond_dim)
        """
        if self.n_classes is None:
            if cond.ndim != 2 or cond.shape[1] != self.cond_dim:
                raise ValueError(
                    f"cond shape {tuple(cond.shape)}: expected (batch, {self.cond_dim}) features"
                )
            cond = cond.float()
        elif cond.ndim != 1 or cond.dtype.is_floating_point:
            raise ValueError(
                f"cond shape {tuple(cond.shape)} dtype {cond.dtype}: expected (batch,) int labels"
            )
        tokens = self.cond_embed(cond).view(-1, self.n_cond_tokens, self.cond_dim)
        tokens = self.cond_norm(tokens)
        if drop_mask is not None:
            if drop_mask.shape != (tokens.shape[0],):
                raise ValueError(
                    f"drop_mask shape {tuple(drop_mask.shape)}: expected ({tokens.shape[0]},)"
                )
            null = self.null_tokens.to(tokens.dtype).expand_as(tokens)
            tokens = torch.where(drop_mask.to(tokens.device)[:, None, None], null, tokens)
        return tokens

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        drop_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the clean window.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_chans, n_times)
            Noisy windows x_t; any ``n_times`` (padded inside to a multiple of
            ``patch * 2 ** (len(channel_mults) - 1)`` and cropped back).
        t : torch.Tensor, shape (batch,) or scalar
            Integer timesteps.
        cond : torch.Tensor
            Features (batch, cond_dim) or labels (batch,), see :meth:`condition_tokens`.
        drop_mask : torch.Tensor of bool, shape (batch,), optional
            Samples that get the null condition (condition dropout, classifier-free guidance).

        Returns
        -------
        torch.Tensor, shape (batch, n_chans, n_times)
            The predicted x0.
        """
        if x.ndim != 3 or x.shape[1] != self.n_chans:
            raise ValueError(f"x shape {tuple(x.shape)}: expected (batch, {self.n_chans}, n_times)")
        batch, _, n_times = x.shape
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(batch)
        temb = self.temb_mlp(timestep_embedding(t, self.base_channels))
        tokens = self.condition_tokens(cond, drop_mask)

        h = self.conv_in(self._fold(self._pad(x)))
        skips = []
        for block, attn, down in zip(
            self.down_blocks, self.down_attns, self.downsamples, strict=True
        ):
            h = attn(block(h, temb), tokens)
            skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid_block(h, temb), tokens)
        for block, attn, up in zip(self.up_blocks, self.up_attns, self.upsamples, strict=True):
            h = attn(block(torch.cat([h, skips.pop()], dim=1), temb), tokens)
            h = up(h)
        out = self._unfold(self.conv_out(F.silu(self.norm_out(h))))
        return out[..., :n_times]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded at its end to a multiple of :attr:`time_multiple` samples."""
        pad = -x.shape[-1] % self.time_multiple
        if not pad:  # no copy of a window that fits already
            return x
        if self.pad_mode == "constant":
            return F.pad(x, (0, pad))
        if x.shape[-1] == 1:  # nothing to reflect
            return F.pad(x, (0, pad), mode="replicate")
        while pad:  # a reflection adds fewer samples than the window has: longer pads take turns
            step = min(pad, x.shape[-1] - 1)
            x, pad = F.pad(x, (0, step), mode="reflect"), pad - step
        return x

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, C, L) -> (batch, C * patch, L / patch): channel c, offset j at c * patch + j."""
        batch, chans, n_times = x.shape
        x = x.view(batch, chans, n_times // self.patch, self.patch).transpose(2, 3)
        return x.reshape(batch, chans * self.patch, n_times // self.patch)

    def _unfold(self, h: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`_fold`."""
        batch, _, steps = h.shape
        h = h.view(batch, self.n_chans, self.patch, steps).transpose(2, 3)
        return h.reshape(batch, self.n_chans, steps * self.patch)
