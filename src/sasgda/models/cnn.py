"""The task-aware classifier of SASG-DA (design.md section 4): a compact 1D CNN.

Its penultimate features ``encode(x)`` are the *semantic representation* that conditions the
diffusion generator (SRG), that GMSS models per class and that SASS moves; SASS also needs
``head(f)`` on features alone, so the two are separate methods. The paper does not give this
network; the project's choice is a small convolutional stack:

1. a temporal convolution shared by every electrode (a few filters per electrode, electrodes not
   yet mixed), strided so that any window comes down to about 48 time steps: 200 Hz Myo windows
   of 40 samples and 2 kHz NinaPro windows of 400 samples then see the same stack;
2. a 1x1 convolution that mixes electrodes and filters;
3. three convolution blocks with BatchNorm, GELU and average pooling;
4. global average pooling over time and a linear projection to ``feat_dim``.

Filtering each electrode alike before mixing them, as STCNet and Crossformer do, generalised
better to unseen repetitions than mixing electrodes in the first layer (MyoUP subjects 1 and 3,
train on repetitions 1, 3, 4, test on 2, 5: 77.5 % against 71.8 % mean test accuracy), and so did
average rather than max pooling. The same network is the downstream "cnn" backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from sasgda.models.layers import (
    SignalClassifier,
    check_dropout,
    check_geometry,
    check_positive,
    make_head,
)

# The stem's stride brings a window to about this many time steps.
_STEM_STEPS = 48


def _conv_block(in_chans: int, out_chans: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(in_chans, out_chans, kernel_size, padding=kernel_size // 2),
        nn.BatchNorm1d(out_chans),
        nn.GELU(),
    )


class TaskAwareCNN(SignalClassifier):
    """Compact 1D CNN with separate ``encode`` and ``head``.

    Parameters
    ----------
    n_chans, n_times : int
        Window geometry: inputs are ``(batch, n_chans, n_times)``.
    n_classes : int
        Number of gestures; logits are ``(batch, n_classes)``.
    feat_dim : int
        D, the size of the semantic feature ``encode(x)``.
    width : int
        Channels after mixing the electrodes; the three blocks have 2, 4 and 4 times as many.
    stem_filters : int
        Temporal filters of the stem, applied to every electrode.
    dropout : float
        Dropout on the features before the linear head.
    """

    def __init__(
        self,
        *,
        n_chans: int,
        n_times: int,
        n_classes: int,
        feat_dim: int = 128,
        width: int = 32,
        stem_filters: int = 4,
        dropout: float = 0.3,
    ):
        super().__init__()
        check_geometry(n_chans, n_times, n_classes)
        check_positive(feat_dim=feat_dim, width=width, stem_filters=stem_filters)
        check_dropout(dropout)
        self.config = dict(
            n_chans=n_chans,
            n_times=n_times,
            n_classes=n_classes,
            feat_dim=feat_dim,
            width=width,
            stem_filters=stem_filters,
            dropout=dropout,
        )
        self.n_chans, self.n_times, self.feat_dim = n_chans, n_times, feat_dim

        # The stem's stride (n_times // 48) keeps 40-sample windows at full resolution and takes
        # 400-sample (2 kHz) windows down to 50 steps; its kernel spans two strides so that the
        # downsampling is also a low-pass. It runs on (batch, 1, n_chans, n_times), the same
        # filters for every electrode.
        stride = max(1, n_times // _STEM_STEPS)
        stem_kernel = 2 * stride + 1 if stride > 1 else 5
        steps = (n_times + 2 * (stem_kernel // 2) - stem_kernel) // stride + 1
        self.stem = nn.Sequential(
            nn.Conv2d(
                1, stem_filters, (1, stem_kernel), stride=(1, stride), padding=(0, stem_kernel // 2)
            ),
            nn.BatchNorm2d(stem_filters),
            nn.GELU(),
        )
        layers = [_conv_block(stem_filters * n_chans, width, 1)]
        chans = width
        for out_chans in (2 * width, 4 * width, 4 * width):
            layers.append(_conv_block(chans, out_chans, 3))
            # Halve the time axis while it is long enough to keep a few steps.
            if steps >= 8:
                layers.append(nn.AvgPool1d(2))
                steps //= 2
            chans = out_chans
        self.features = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Linear(chans, feat_dim), nn.GELU())
        self.head = make_head(feat_dim, n_classes, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Semantic features ``(batch, feat_dim)`` of windows ``(batch, n_chans, n_times)``."""
        self.check_input(x)
        h = self.stem(x.unsqueeze(1)).flatten(1, 2)  # (batch, stem_filters * n_chans, steps)
        h = self.features(h).mean(dim=-1)  # global average pooling over time
        return self.project(h)
