"""STCNet, spatio-temporal cross network: a downstream backbone of SASG-DA (design.md section 4).

Follows J. Yang, D. Cha, D.-G. Lee and S. Ahn, "STCNet: Spatio-Temporal Cross Network with
subject-aware contrastive learning for hand gesture recognition in surface EMG", Computers in
Biology and Medicine 185 (2025): a convolutional-recurrent network whose spatio-temporal block
has a temporal convolution branch and a spatial branch with "rolling" convolution, i.e. circular
padding over the electrode axis, which respects the ring of electrodes of an armband; the fused
features go through a bidirectional LSTM and a classification head.

Adapted to this project: the original runs on whole repetitions cut into time intervals; here the
input is one window and its (downsampled) time steps are the LSTM's sequence. A strided temporal
stem brings any window to about 20 steps (so 200 Hz and 2 kHz windows cost about the same). The
subject-aware contrastive loss is not used: every backbone is trained with the same
cross-entropy trainer. Every channel is treated as part of the ring; for NinaPro DB2/DB7 only the
first 8 of 12 electrodes really form one, so there the wrap-around is an approximation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sasgda.models.layers import (
    SignalClassifier,
    check_dropout,
    check_geometry,
    check_positive,
    make_head,
)

# The stem's stride brings a window to about this many LSTM steps.
_N_STEPS = 20


class CircularSpatialConv(nn.Module):
    """Convolution over the electrode ring of maps ``(batch, filters, n_chans, n_steps)``.

    The electrode axis is padded circularly ("rolling" convolution), so the first and the last
    electrode of an armband are neighbours; the time axis is left alone.
    """

    def __init__(self, filters: int, kernel_size: int):
        super().__init__()
        self.pad = kernel_size // 2
        self.conv = nn.Conv2d(filters, filters, (kernel_size, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 0, self.pad, self.pad), mode="circular"))


class STCNet(SignalClassifier):
    """Temporal + circular-spatial convolution branches, a BiLSTM and a head.

    Parameters
    ----------
    n_chans, n_times, n_classes : int
        Window geometry and number of gestures.
    filters : int
        Feature maps per electrode in each branch.
    spatial_kernel : int
        Electrodes covered by the circular spatial convolution (odd, at most ``n_chans``).
    temporal_kernel : int
        Steps covered by the temporal branch's convolution (odd).
    hidden : int
        LSTM hidden size per direction.
    dropout : float
        Dropout before the LSTM and before the head.

    Notes
    -----
    ``encode(x)`` is ``(batch, 2 * hidden)``: the BiLSTM outputs averaged over time.
    """

    def __init__(
        self,
        *,
        n_chans: int,
        n_times: int,
        n_classes: int,
        filters: int = 16,
        spatial_kernel: int = 3,
        temporal_kernel: int = 5,
        hidden: int = 64,
        dropout: float = 0.3,
    ):
        super().__init__()
        check_geometry(n_chans, n_times, n_classes)
        check_positive(
            filters=filters,
            spatial_kernel=spatial_kernel,
            temporal_kernel=temporal_kernel,
            hidden=hidden,
        )
        for name, value in (
            ("spatial_kernel", spatial_kernel),
            ("temporal_kernel", temporal_kernel),
        ):
            if value % 2 == 0:
                raise ValueError(f"{name}={value}: expected an odd number")
        if spatial_kernel > n_chans:
            raise ValueError(f"spatial_kernel={spatial_kernel}: expected at most n_chans={n_chans}")
        check_dropout(dropout)
        self.config = dict(
            n_chans=n_chans,
            n_times=n_times,
            n_classes=n_classes,
            filters=filters,
            spatial_kernel=spatial_kernel,
            temporal_kernel=temporal_kernel,
            hidden=hidden,
            dropout=dropout,
        )
        self.n_chans, self.n_times, self.feat_dim = n_chans, n_times, 2 * hidden

        # Stem: a per-electrode temporal convolution (shared across electrodes) that also
        # downsamples long windows; maps are (batch, filters, n_chans, n_steps) from here on.
        stride = max(1, n_times // _N_STEPS)
        stem_kernel = 2 * stride + 1 if stride > 1 else 5
        self.stem = nn.Sequential(
            nn.Conv2d(
                1, filters, (1, stem_kernel), stride=(1, stride), padding=(0, stem_kernel // 2)
            ),
            nn.BatchNorm2d(filters),
            nn.GELU(),
        )
        self.temporal = nn.Sequential(
            nn.Conv2d(filters, filters, (1, temporal_kernel), padding=(0, temporal_kernel // 2)),
            nn.BatchNorm2d(filters),
            nn.GELU(),
        )
        self.spatial = nn.Sequential(
            CircularSpatialConv(filters, spatial_kernel),
            nn.BatchNorm2d(filters),
            nn.GELU(),
        )
        # Fusion: both branches concatenated, mixed by a 1x1 convolution.
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * filters, filters, 1),
            nn.BatchNorm2d(filters),
            nn.GELU(),
        )
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(filters * n_chans, hidden, batch_first=True, bidirectional=True)
        self.head = make_head(2 * hidden, n_classes, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, 2 * hidden)`` of windows ``(batch, n_chans, n_times)``."""
        self.check_input(x)
        h = self.stem(x.unsqueeze(1))
        h = self.fuse(torch.cat([self.temporal(h), self.spatial(h)], dim=1))
        b, f, c, t = h.shape
        # One LSTM step per time step, its input every electrode's feature maps.
        sequence = h.permute(0, 3, 1, 2).reshape(b, t, f * c)
        out, _ = self.lstm(self.dropout(sequence))
        return out.mean(dim=1)
