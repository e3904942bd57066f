"""Pieces shared by the classifiers: the encode/head base class, argument checks, a feed-forward.

Every classifier in :mod:`sasgda.models` is a :class:`SignalClassifier`: ``encode`` maps a window
``(batch, n_chans, n_times)`` to a feature vector ``(batch, feat_dim)`` and ``head`` maps features
to logits ``(batch, n_classes)``. SASS needs the head on its own (it scores conditions in feature
space), and the evaluation metrics need the features, so the split is part of every model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` for the first keyword argument that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: expected a positive integer")


def check_geometry(n_chans: int, n_times: int, n_classes: int) -> None:
    """Check the window geometry and class count every classifier is built from."""
    check_positive(n_chans=n_chans, n_times=n_times, n_classes=n_classes)
    if n_times < 8:
        raise ValueError(f"n_times={n_times}: expected at least 8 samples per window")
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}: expected at least 2 classes")


def check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r}: expected a probability in [0, 1)")


class SignalClassifier(nn.Module):
    """Base class: ``forward(x) = head(encode(x))``.

    Subclasses set ``n_chans``, ``n_times``, ``feat_dim``, ``config`` (their constructor keyword
    arguments, for :func:`sasgda.utils.modelio.save_model`) and a ``head`` module, and implement
    :meth:`encode`.
    """

    n_chans: int
    n_times: int
    feat_dim: int
    config: dict
    head: nn.Module

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(batch, n_chans, n_times)``."""
        if x.ndim != 3 or tuple(x.shape[1:]) != (self.n_chans, self.n_times):
            raise ValueError(
                f"{type(self).__name__}: expected input (batch, {self.n_chans}, {self.n_times}), "
                f"got {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, feat_dim)`` of windows ``(batch, n_chans, n_times)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes)`` of windows ``(batch, n_chans, n_times)``."""
        return self.head(self.encode(x))


def make_head(feat_dim: int, n_classes: int, dropout: float) -> nn.Sequential:
    """Dropout then a linear layer: features ``(batch, feat_dim)`` to logits."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(feat_dim, n_classes))


class FeedForward(nn.Sequential):
    """The Transformer MLP: ``(..., d_model) -> (..., d_model)`` through ``d_ff`` hidden units.

    Without dropout of its own: the blocks drop out on the residual branch (dropout masks are a
    large share of a step's time on a CPU for these small models).
    """

    def __init__(self, d_model: int, d_ff: int):
        super().__init__(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))


class MultiHeadAttention(nn.Module):
    """Multi-head attention of queries ``(batch, n_q, d_model)`` on ``(batch, n_kv, d_model)``.

    A lean ``nn.MultiheadAttention`` on ``F.scaled_dot_product_attention``: on a CPU it is about
    twice as fast for the many short sequences of the Transformer backbones. No dropout on the
    attention weights; the blocks drop out on their residual branches instead.
    """

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"n_heads={n_heads}: must divide d_model={d_model}")
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.reshape(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q = self._heads(self.query(query))
        k = self._heads(self.key(context))
        v = self._heads(self.value(context))
        attended = F.scaled_dot_product_attention(q, k, v)
        return self.out(attended.transpose(1, 2).flatten(2))
