"""Classic time-series augmentations, the non-generative baselines of design.md section 6.

Each augmentation is a pure function ``f(x, rng) -> x_new`` on windows ``(N, C, L)`` float32
that keeps the shape and the labels. They follow the usual definitions for wearable-sensor
and sEMG data: jitter, scaling, magnitude warping, time warping and permutation as in Um et
al. (ICMI 2017), window slicing and window warping as in Le Guennec et al. (2016), mixup as in
Zhang et al. (ICLR 2018) restricted to one class, and a channel rotation for ring armbands.
Changes made here: time warps, slicing and window warping are all expressed as a monotone map
of read positions followed by one vectorised linear interpolation (what ``np.interp`` does per
channel); every warp is shared by the channels of a window, which are recorded synchronously.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.interpolate import CubicSpline

from sasgda.augment.mixing import balanced_indices


def _check_windows(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"windows must be 3-D (n_windows, n_chans, n_times), got {x.shape}")
    return x


def _resample(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Read windows ``x`` (N, C, L) at fractional time positions (N, L') by linear interpolation."""
    n_times = x.shape[2]
    positions = np.clip(positions, 0, n_times - 1)
    left = np.minimum(np.floor(positions).astype(np.int64), max(n_times - 2, 0))
    right = np.minimum(left + 1, n_times - 1)
    frac = (positions - left)[:, None, :]
    shape = (x.shape[0], x.shape[1], positions.shape[1])
    x_left = np.take_along_axis(x, np.broadcast_to(left[:, None, :], shape), axis=2)
    x_right = np.take_along_axis(x, np.broadcast_to(right[:, None, :], shape), axis=2)
    return (x_left + frac * (x_right - x_left)).astype(np.float32)


def _smooth_curves(
    shape: tuple[int, ...], n_times: int, sigma: float, n_knots: int, rng: np.random.Generator
) -> np.ndarray:
    """Random curves around 1: a cubic spline through ``n_knots + 2`` values ~ N(1, sigma).

    Returns an array of ``shape + (n_times,)``.
    """
    knots = np.linspace(0, n_times - 1, n_knots + 2)
    values = rng.normal(1.0, sigma, size=(n_knots + 2, *shape))
    curves = CubicSpline(knots, values, axis=0)(np.arange(n_times))
    return np.moveaxis(curves, 0, -1)


def jitter(x, rng: np.random.Generator, snr_db: float = 25.0) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` relative to each window's mean power.

    Parameters
    ----------
    x : array-like, shape (N, C, L)
    rng : numpy.random.Generator
    snr_db : float
        Signal-to-noise ratio in dB; the noise power is ``mean(x_i ** 2) / 10 ** (snr_db / 10)``.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    power = (x.astype(np.float64) ** 2).mean(axis=(1, 2), keepdims=True)
    noise_std = np.sqrt(power / 10 ** (snr_db / 10))
    return (x + noise_std * rng.standard_normal(x.shape)).astype(np.float32)


def scaling(x, rng: np.random.Generator, sigma: float = 0.1) -> np.ndarray:
    """Multiply each channel of each window by a factor ~ N(1, sigma) (electrode gain change).

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    factors = rng.normal(1.0, sigma, size=(x.shape[0], x.shape[1], 1))
    return (x * factors).astype(np.float32)


def magnitude_warp(x, rng: np.random.Generator, sigma: float = 0.2, n_knots: int = 4) -> np.ndarray:
    """Multiply each channel by a smooth random curve around 1 (cubic spline over knots).

    Parameters
    ----------
    x : array-like, shape (N, C, L)
    rng : numpy.random.Generator
    sigma : float
        Standard deviation of the curve's knot values around 1.
    n_knots : int
        Interior knots; the curve passes through ``n_knots + 2`` evenly spaced random values.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    curves = _smooth_curves(x.shape[:2], x.shape[2], sigma, n_knots, rng)
    return (x * curves).astype(np.float32)


def time_warp(x, rng: np.random.Generator, sigma: float = 0.2, n_knots: int = 4) -> np.ndarray:
    """Smooth monotone distortion of time, shared by the channels of a window.

    A random speed curve (cubic spline around 1, clipped to stay positive) is integrated into
    read positions spanning the whole window, so the start and end stay in place while the
    middle is locally sped up or slowed down.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    n_times = x.shape[2]
    speed = np.clip(_smooth_curves((x.shape[0],), n_times, sigma, n_knots, rng), 0.05, None)
    steps = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(speed[:, :-1], axis=1)], axis=1)
    positions = steps / np.maximum(steps[:, -1:], 1e-12) * (n_times - 1)
    return _resample(x, positions)


def window_slice(x, rng: np.random.Generator, ratio: float = 0.9) -> np.ndarray:
    """Crop a random ``ratio`` of each window and stretch it back to the full length.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    n_times = x.shape[2]
    crop = max(2, int(round(ratio * n_times)))
    starts = rng.integers(0, n_times - crop + 1, size=x.shape[0])
    positions = starts[:, None] + np.linspace(0, crop - 1, n_times)[None, :]
    return _resample(x, positions)


def window_warp(
    x,
    rng: np.random.Generator,
    window_ratio: float = 0.1,
    scales: tuple[float, ...] = (0.5, 2.0),
) -> np.ndarray:
    """Speed up or slow down a random segment, then resample the window back to its length.

    Parameters
    ----------
    x : array-like, shape (N, C, L)
    rng : numpy.random.Generator
    window_ratio : float
        Length of the warped segment as a fraction of the window.
    scales : tuple of float
        The segment is resampled to ``scale`` times its length, ``scale`` drawn from these.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    if not 0 < window_ratio < 1:
        raise ValueError(f"window_ratio must be in (0, 1), got {window_ratio}")
    n_times = x.shape[2]
    width = max(2, int(np.ceil(window_ratio * n_times)))
    starts = rng.integers(0, n_times - width + 1, size=x.shape[0])
    chosen = rng.choice(np.asarray(scales, dtype=np.float64), size=x.shape[0])
    positions = np.empty((x.shape[0], n_times))
    for i, (start, scale) in enumerate(zip(starts, chosen, strict=True)):
        # Read positions of the warped, longer or shorter window ...
        segment = np.linspace(start, start + width - 1, max(2, int(round(width * scale))))
        warped = np.concatenate(
            [np.arange(start), segment, np.arange(start + width, n_times)]
        ).astype(np.float64)
        # ... then sampled at n_times evenly spaced points to get back to the original length.
        grid = np.linspace(0, len(warped) - 1, n_times)
        positions[i] = np.interp(grid, np.arange(len(warped)), warped)
    return _resample(x, positions)


def permutation(x, rng: np.random.Generator, max_segments: int = 4) -> np.ndarray:
    """Cut each window at random points into 2 to ``max_segments`` segments and shuffle them.

    The order is never the identity (an identity draw is rotated by one segment), so every
    window changes; the segments are the same for all channels of a window.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    n_times = x.shape[2]
    if max_segments < 2 or n_times < 2:
        raise ValueError(
            f"permutation needs max_segments >= 2 and n_times >= 2, "
            f"got {max_segments} and {n_times}"
        )
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        n_segments = int(rng.integers(2, min(max_segments, n_times) + 1))
        cuts = np.sort(rng.choice(np.arange(1, n_times), n_segments - 1, replace=False))
        segments = np.split(np.arange(n_times), cuts)
        order = rng.permutation(n_segments)
        if (order == np.arange(n_segments)).all():
            order = np.roll(order, 1)
        out[i] = x[i][:, np.concatenate([segments[j] for j in order])]
    return out


def channel_rotation(x, rng: np.random.Generator, ring_chans: int | None = None) -> np.ndarray:
    """Roll the channel axis by +1 or -1 (random per window): an armband shifted by one electrode.

    Assumes the first ``ring_chans`` channels are electrodes equally spaced around the forearm
    in channel order, as on a Myo armband or the 8-electrode ring of NinaPro DB2/DB7; the other
    channels (e.g. the extra flexor/extensor and biceps/triceps electrodes of DB2/DB7, so pass
    ``ring_chans=8`` there) stay in place. With a single ring channel nothing changes.

    Parameters
    ----------
    x : array-like, shape (N, C, L)
    rng : numpy.random.Generator
    ring_chans : int, optional
        Channels on the ring, in [1, C]; default all C.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    ring = x.shape[1] if ring_chans is None else int(ring_chans)
    if not 1 <= ring <= x.shape[1]:
        raise ValueError(f"ring_chans must be in [1, {x.shape[1]}], got {ring_chans}")
    shifts = rng.choice(np.array([-1, 1]), size=x.shape[0])
    source = (np.arange(ring)[None, :] - shifts[:, None]) % ring
    out = x.copy()
    out[:, :ring] = np.take_along_axis(x[:, :ring], source[:, :, None], axis=1)
    return out


def mixup(x, rng: np.random.Generator, partners=None, alpha: float = 0.4) -> np.ndarray:
    """Convex combination of each window with a random partner window of the same class.

    ``lambda ~ Beta(alpha, alpha)`` is replaced by ``max(lambda, 1 - lambda)`` so the original
    window always weighs at least half; mixing within one class keeps the label exact (no soft
    labels are needed for the downstream trainer).

    Parameters
    ----------
    x : array-like, shape (N, C, L)
        Windows of one class.
    rng : numpy.random.Generator
    partners : array-like, shape (M, C, L), optional
        Windows of the same class to mix with; default ``x`` itself, with a partner other than
        the window when N > 1. A partner drawn from ``partners`` may happen to be the window
        itself, which leaves it unchanged.
    alpha : float
        Beta distribution parameter, > 0.

    Returns
    -------
    ndarray, shape (N, C, L), float32
    """
    x = _check_windows(x)
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    n = x.shape[0]
    lam = rng.beta(alpha, alpha, size=n)
    lam = np.maximum(lam, 1 - lam)[:, None, None]
    if partners is None:
        partners = x
        offsets = rng.integers(1, n, size=n) if n > 1 else np.zeros(n, dtype=np.int64)
        which = (np.arange(n) + offsets) % max(n, 1)
    else:
        partners = _check_windows(partners)
        if partners.shape[1:] != x.shape[1:] or len(partners) == 0:
            raise ValueError(
                f"partners must be a non-empty (M, {x.shape[1]}, {x.shape[2]}) array, "
                f"got {partners.shape}"
            )
        which = rng.integers(0, len(partners), size=n)
    return (lam * x + (1 - lam) * partners[which]).astype(np.float32)


CLASSIC_AUGMENTATIONS: dict[str, Callable[..., np.ndarray]] = {
    "jitter": jitter,
    "scaling": scaling,
    "magnitude_warp": magnitude_warp,
    "time_warp": time_warp,
    "window_slice": window_slice,
    "window_warp": window_warp,
    "permutation": permutation,
    "channel_rotation": channel_rotation,
    "mixup": mixup,
}


def classic_augment(
    name: str,
    x,
    y,
    n: int,
    rng: np.random.Generator,
    balanced: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Make exactly ``n`` extra windows with the classic augmentation ``name``.

    Source windows are picked with :func:`sasgda.augment.mixing.balanced_indices` (``n / K``
    per class, round-robin through each class's windows) and transformed; mixup mixes each
    source with a random window of its own class.

    Parameters
    ----------
    name : str
        A key of ``CLASSIC_AUGMENTATIONS``.
    x : array-like, shape (N, C, L)
        Real training windows.
    y : array-like, shape (N,)
    n : int
        Extra windows to make, >= 0.
    rng : numpy.random.Generator
    balanced : bool
        The same number of windows per class (else the class proportions of ``y``).

    Returns
    -------
    x_new : ndarray, shape (n, C, L), float32
    y_new : ndarray, shape (n,), int64
    """
    if name not in CLASSIC_AUGMENTATIONS:
        raise ValueError(
            f"unknown augmentation {name!r}; valid names: {', '.join(CLASSIC_AUGMENTATIONS)}"
        )
    x = _check_windows(x)
    y = np.asarray(y, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} windows but y has {len(y)} labels")
    idx = balanced_indices(y, n, rng, balanced)
    y_new = y[idx]
    if n == 0:
        return np.zeros((0, *x.shape[1:]), dtype=np.float32), y_new
    if name != "mixup":
        return CLASSIC_AUGMENTATIONS[name](x[idx], rng), y_new
    x_new = np.empty((n, *x.shape[1:]), dtype=np.float32)
    for label in np.unique(y_new):
        rows = np.flatnonzero(y_new == label)
        x_new[rows] = mixup(x[idx[rows]], rng, partners=x[y == label])
    return x_new, y_new
