"""TDCT, temporal depthwise convolutional Transformer: a downstream backbone of SASG-DA
(design.md section 4).

Follows "Transformer-based network with temporal depthwise convolutions for sEMG recognition"
(TDCT): a Transformer over time whose multi-head self-attention computes its queries, keys and
values with temporal depthwise convolutions (TDC) instead of linear maps, which gives attention a
sense of locality at a small parameter cost. Here a TDC is a depthwise convolution along time
(one kernel per channel) followed by a pointwise (1x1) mixing of channels.

Adapted to this project's windows: a convolutional tokenizer turns a window into about 20 time
tokens (stride ``n_times // 20``: 2 samples at 200 Hz, 20 at 2 kHz) so that both geometries give
short sequences. The tokenizer first filters every electrode with the same few temporal filters
and only then mixes electrodes into ``d_model`` channels: on MyoUP subject 3 this generalised to
unseen repetitions 4.6 points better than a plain convolution over all electrodes. Pre-norm blocks
with a learned position embedding follow; the tokens are averaged and a linear head classifies
them. The layer counts and sizes are small so that it trains on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sasgda.models.layers import (
    FeedForward,
    SignalClassifier,
    check_dropout,
    check_geometry,
    check_positive,
    make_head,
)

# The tokenizer's stride gives about this many tokens per window.
_N_TOKENS = 20


class TemporalDepthwiseConv(nn.Sequential):
    """TDC on ``(batch, d_model, n_tokens)``: depthwise conv along time, then a 1x1 conv."""

    def __init__(self, d_model: int, kernel_size: int):
        super().__init__(
            nn.Conv1d(d_model, d_model, kernel_size, padding=kernel_size // 2, groups=d_model),
            nn.Conv1d(d_model, d_model, 1),
        )


class TDCAttention(nn.Module):
    """Multi-head self-attention with TDC projections on tokens ``(batch, n_tokens, d_model)``."""

    def __init__(self, d_model: int, n_heads: int, kernel_size: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.query = TemporalDepthwiseConv(d_model, kernel_size)
        self.key = TemporalDepthwiseConv(d_model, kernel_size)
        self.value = TemporalDepthwiseConv(d_model, kernel_size)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = x.transpose(1, 2)  # convolutions run along time: (batch, d_model, n_tokens)

        def heads(proj: nn.Module) -> torch.Tensor:
            return proj(h).reshape(b, self.n_heads, d // self.n_heads, t).transpose(2, 3)

        q, k, v = heads(self.query), heads(self.key), heads(self.value)
        attended = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(attended.transpose(1, 2).reshape(b, t, d))


class TDCTBlock(nn.Module):
    """Pre-norm Transformer block with TDC attention; ``(batch, n_tokens, d_model)`` preserved."""

    def __init__(self, d_model: int, n_heads: int, kernel_size: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = TDCAttention(d_model, n_heads, kernel_size, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = FeedForward(d_model, d_ff)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


class TDCT(SignalClassifier):
    """Temporal depthwise convolutional Transformer for windows ``(batch, n_chans, n_times)``.

    Parameters
    ----------
    n_chans, n_times, n_classes : int
        Window geometry and number of gestures.
    d_model : int
        Token size.
    n_heads : int
        Attention heads (must divide ``d_model``).
    n_layers : int
        Transformer blocks.
    kernel_size : int
        Temporal kernel of the depthwise Q/K/V convolutions, in tokens (odd).
    token_stride : int, optional
        Samples between tokens; default ``max(1, n_times // 20)``. The tokenizer's kernel spans
        two strides (at least 5 samples).
    tokenizer_filters : int
        Temporal filters the tokenizer applies to every electrode before mixing them.
    d_ff : int, optional
        Hidden units of the MLPs; default ``2 * d_model``.
    dropout : float
        Dropout in the blocks and before the head.

    Notes
    -----
    ``encode(x)`` is ``(batch, d_model)``: the normalised tokens averaged over time.
    """

    def __init__(
        self,
        *,
        n_chans: int,
        n_times: int,
        n_classes: int,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        kernel_size: int = 3,
        token_stride: int | None = None,
        tokenizer_filters: int = 4,
        d_ff: int | None = None,
        dropout: float = 0.3,
    ):
        super().__init__()
        check_geometry(n_chans, n_times, n_classes)
        token_stride = token_stride if token_stride is not None else max(1, n_times // _N_TOKENS)
        d_ff = d_ff if d_ff is not None else 2 * d_model
        check_positive(
            d_model=d_model,
            n_heads=n_heads,
            n_layers=n_layers,
            kernel_size=kernel_size,
            token_stride=token_stride,
            tokenizer_filters=tokenizer_filters,
            d_ff=d_ff,
        )
        if d_model % n_heads:
            raise ValueError(f"n_heads={n_heads}: must divide d_model={d_model}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={kernel_size}: expected an odd number")
        if token_stride > n_times:
            raise ValueError(f"token_stride={token_stride}: expected at most n_times={n_times}")
        check_dropout(dropout)
        self.config = dict(
            n_chans=n_chans,
            n_times=n_times,
            n_classes=n_classes,
            d_model=d_model,
            n_heads=n_heads,
            n_layers=n_layers,
            kernel_size=kernel_size,
            token_stride=token_stride,
            tokenizer_filters=tokenizer_filters,
            d_ff=d_ff,
            dropout=dropout,
        )
        self.n_chans, self.n_times, self.feat_dim = n_chans, n_times, d_model

        token_kernel = max(5, 2 * token_stride + 1)
        padding = token_kernel // 2
        n_tokens = (n_times + 2 * padding - token_kernel) // token_stride + 1
        # Tokenizer: the same temporal filters for every electrode on (batch, 1, n_chans,
        # n_times), then a 1x1 convolution that mixes electrodes and filters into d_model.
        self.temporal_filters = nn.Sequential(
            nn.Conv2d(
                1,
                tokenizer_filters,
                (1, token_kernel),
                stride=(1, token_stride),
                padding=(0, padding),
            ),
            nn.BatchNorm2d(tokenizer_filters),
            nn.GELU(),
        )
        self.tokenizer = nn.Sequential(
            nn.Conv1d(tokenizer_filters * n_chans, d_model, 1),
            nn.BatchNorm1d(d_model),
            nn.GELU(),
        )
        self.position = nn.Parameter(torch.zeros(1, n_tokens, d_model))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(
            TDCTBlock(d_model, n_heads, kernel_size, d_ff, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = make_head(d_model, n_classes, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, d_model)`` of windows ``(batch, n_chans, n_times)``."""
        self.check_input(x)
        h = self.temporal_filters(x.unsqueeze(1)).flatten(1, 2)  # (batch, filters * chans, tokens)
        h = self.tokenizer(h).transpose(1, 2) + self.position
        for block in self.blocks:
            h = block(h)
        return self.norm(h).mean(dim=1)
