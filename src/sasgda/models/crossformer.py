"""Crossformer, classification variant: a downstream backbone of SASG-DA (design.md section 4).

Follows Y. Zhang and J. Yan, "Crossformer: Transformer Utilizing Cross-Dimension Dependency for
Multivariate Time Series Forecasting", ICLR 2023:

- dimension-segment-wise (DSW) embedding: each channel's series is cut into segments of
  ``seg_len`` samples, each segment is embedded by a shared linear map, plus a learned position
  embedding per (channel, segment);
- two-stage attention (TSA) layers: cross-time attention among the segments of each channel, then
  cross-dimension attention among the channels of each segment through a few learned router
  vectors (routers gather from all channels, then every channel reads from the routers), which
  costs O(n_chans) instead of O(n_chans^2).

Adapted for classifying short windows: the forecasting decoder is replaced by averaging the
encoder output over segments, flattening channels (which electrode is active matters for a
gesture) and a linear head; the hierarchical segment merging is dropped because a window is only
a handful of segments long; a window whose length is not a multiple of ``seg_len`` is padded at
the front by repeating its first sample, as the original does. The default sizes (d_model 32,
2 heads, 2 layers, 4 routers) are small so that it trains on a CPU in minutes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sasgda.models.layers import (
    FeedForward,
    MultiHeadAttention,
    SignalClassifier,
    check_dropout,
    check_geometry,
    check_positive,
    make_head,
)

# The default segment length cuts a window into this many segments.
_N_SEGMENTS = 5


class DSWEmbedding(nn.Module):
    """Windows ``(batch, n_chans, n_times)`` to tokens ``(batch, n_chans, n_segments, d_model)``."""

    def __init__(self, n_chans: int, n_times: int, seg_len: int, d_model: int):
        super().__init__()
        self.seg_len = seg_len
        self.n_segments = math.ceil(n_times / seg_len)
        self.pad = self.n_segments * seg_len - n_times
        self.value = nn.Linear(seg_len, d_model)
        self.position = nn.Parameter(torch.zeros(1, n_chans, self.n_segments, d_model))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = F.pad(x, (self.pad, 0), mode="replicate")
        b, c, _ = x.shape
        segments = x.reshape(b, c, self.n_segments, self.seg_len)
        return self.norm(self.value(segments) + self.position)


class TwoStageAttention(nn.Module):
    """One TSA layer on tokens ``(batch, n_chans, n_segments, d_model)``, shape preserved."""

    def __init__(
        self, n_segments: int, d_model: int, n_heads: int, n_routers: int, d_ff: int, dropout: float
    ):
        super().__init__()
        self.time_attention = MultiHeadAttention(d_model, n_heads)
        self.router = nn.Parameter(torch.zeros(n_segments, n_routers, d_model))
        nn.init.trunc_normal_(self.router, std=0.02)
        self.dim_sender = MultiHeadAttention(d_model, n_heads)
        self.dim_receiver = MultiHeadAttention(d_model, n_heads)
        self.time_mlp = FeedForward(d_model, d_ff)
        self.dim_mlp = FeedForward(d_model, d_ff)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, s, d = x.shape
        # 1. Cross-time stage: the segments of each channel attend to each other.
        h = x.reshape(b * c, s, d)
        h = self.norms[0](h + self.dropout(self.time_attention(h, h)))
        h = self.norms[1](h + self.dropout(self.time_mlp(h)))
        # 2. Cross-dimension stage, per segment: routers gather from every channel, then every
        #    channel reads the routers' summary back.
        h = h.reshape(b, c, s, d).transpose(1, 2).reshape(b * s, c, d)
        router = self.router.repeat(b, 1, 1)  # (b * s, n_routers, d), batch-major like h
        summary = self.dim_sender(router, h)
        received = self.dim_receiver(h, summary)
        h = self.norms[2](h + self.dropout(received))
        h = self.norms[3](h + self.dropout(self.dim_mlp(h)))
        return h.reshape(b, s, c, d).transpose(1, 2)


class Crossformer(SignalClassifier):
    """Crossformer encoder with a pooled linear head, for windows ``(batch, n_chans, n_times)``.

    Parameters
    ----------
    n_chans, n_times, n_classes : int
        Window geometry and number of gestures.
    seg_len : int, optional
        Samples per DSW segment; default ``ceil(n_times / 5)`` (5 segments per window: 40 ms
        segments for 200 ms windows at any sampling rate).
    d_model : int
        Token size.
    n_heads : int
        Attention heads (must divide ``d_model``).
    n_layers : int
        Two-stage attention layers.
    n_routers : int
        Router vectors per segment in the cross-dimension stage (the paper's ``c``).
    d_ff : int, optional
        Hidden units of the MLPs; default ``2 * d_model``.
    dropout : float
        Dropout in the attention layers and before the head.

    Notes
    -----
    ``encode(x)`` is ``(batch, n_chans * d_model)``: the tokens averaged over segments, one
    ``d_model`` block per channel.
    """

    def __init__(
        self,
        *,
        n_chans: int,
        n_times: int,
        n_classes: int,
        seg_len: int | None = None,
        d_model: int = 32,
        n_heads: int = 2,
        n_layers: int = 2,
        n_routers: int = 4,
        d_ff: int | None = None,
        dropout: float = 0.1,
    ):
        super().__init__()
        check_geometry(n_chans, n_times, n_classes)
        seg_len = seg_len if seg_len is not None else math.ceil(n_times / _N_SEGMENTS)
        d_ff = d_ff if d_ff is not None else 2 * d_model
        check_positive(
            seg_len=seg_len,
            d_model=d_model,
            n_heads=n_heads,
            n_layers=n_layers,
            n_routers=n_routers,
            d_ff=d_ff,
        )
        if seg_len > n_times:
            raise ValueError(f"seg_len={seg_len}: expected at most n_times={n_times}")
        if d_model % n_heads:
            raise ValueError(f"n_heads={n_heads}: must divide d_model={d_model}")
        check_dropout(dropout)
        self.config = dict(
            n_chans=n_chans,
            n_times=n_times,
            n_classes=n_classes,
            seg_len=seg_len,
            d_model=d_model,
            n_heads=n_heads,
            n_layers=n_layers,
            n_routers=n_routers,
            d_ff=d_ff,
            dropout=dropout,
        )
        self.n_chans, self.n_times = n_chans, n_times
        self.feat_dim = n_chans * d_model

        self.embedding = DSWEmbedding(n_chans, n_times, seg_len, d_model)
        n_segments = self.embedding.n_segments
        self.layers = nn.ModuleList(
            TwoStageAttention(n_segments, d_model, n_heads, n_routers, d_ff, dropout)
            for _ in range(n_layers)
        )
        self.head = make_head(self.feat_dim, n_classes, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, n_chans * d_model)`` of windows ``(batch, n_chans, n_times)``."""
        self.check_input(x)
        h = self.embedding(x)
        for layer in self.layers:
            h = layer(h)
        return h.mean(dim=2).flatten(1)
