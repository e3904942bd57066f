"""Mixing real and extra (synthetic or augmented) training windows (design.md sections 1.5, 6).

Every augmentation method adds the same number of extra windows, ``round(ratio * n_real)``
(``synthetic_ratio`` 2.0 by default, as in the paper), picked with the same number of windows
per class so that no method wins by re-balancing the classes differently.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def n_extra(n_real: int, ratio: float) -> int:
    """Number of extra windows for ``n_real`` real ones: ``int(round(ratio * n_real))``."""
    if n_real < 0:
        raise ValueError(f"n_real must be >= 0, got {n_real}")
    if ratio < 0:
        raise ValueError(f"ratio must be >= 0, got {ratio}")
    return int(round(ratio * n_real))


def balanced_indices(labels, n: int, rng: np.random.Generator, balanced: bool = True) -> np.ndarray:
    """Indices of ``n`` rows, the same number per class, repeating rows only when needed.

    Each class gets ``n // K`` rows and ``n % K`` classes one more: the largest ones, chosen at
    random among equals. A class's rows are taken round-robin through a random permutation of
    its members, so a row repeats only once all rows of its class have been used.

    Parameters
    ----------
    labels : array-like, shape (N,)
    n : int
        Rows wanted, >= 0.
    rng : numpy.random.Generator
    balanced : bool
        If False, rows are taken round-robin through a permutation of all rows instead, which
        keeps the class proportions of ``labels``.

    Returns
    -------
    ndarray, shape (n,), int64
        Grouped by class (in sorted label order) when ``balanced``.
    """
    labels = np.asarray(labels)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > 0 and len(labels) == 0:
        raise ValueError(f"cannot pick {n} rows from an empty set")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if not balanced:
        return rng.permutation(len(labels))[np.arange(n) % len(labels)].astype(np.int64)
    classes, sizes = np.unique(labels, return_counts=True)
    per_class = np.full(len(classes), n // len(classes))
    # The n % K extra rows go to the largest classes (ties at random), so that a set generated
    # with the same balanced quota is taken whole, without repeating rows of a smaller class.
    order = rng.permutation(len(classes))
    order = order[np.argsort(-sizes[order], kind="stable")]
    per_class[order[: n % len(classes)]] += 1
    picks = []
    for label, count in zip(classes, per_class, strict=True):
        members = rng.permutation(np.flatnonzero(labels == label))
        picks.append(members[np.arange(count) % len(members)])
    return np.concatenate(picks).astype(np.int64)


def select_synthetic(
    x_syn, y_syn, n: int, rng: np.random.Generator, balanced: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n`` synthetic windows, balanced per class (see :func:`balanced_indices`).

    Windows repeat only when a class has fewer than its share; a warning says so. Use
    :func:`balanced_indices` directly to subset other per-window arrays (cond, rarity) alike.

    Parameters
    ----------
    x_syn : array-like, shape (M, C, L)
    y_syn : array-like, shape (M,)
    n : int
    rng : numpy.random.Generator
    balanced : bool

    Returns
    -------
    x : ndarray, shape (n, C, L), float32
    y : ndarray, shape (n,), int64
    """
    x_syn = np.asarray(x_syn, dtype=np.float32)
    y_syn = np.asarray(y_syn, dtype=np.int64)
    if len(x_syn) != len(y_syn):
        raise ValueError(f"x_syn has {len(x_syn)} windows but y_syn has {len(y_syn)} labels")
    idx = balanced_indices(y_syn, n, rng, balanced)
    picked, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        short = np.unique(y_syn[picked[counts > 1]]).tolist()
        warnings.warn(
            f"select_synthetic: classes {short} have fewer synthetic windows than their share "
            f"of {n}; {int((counts - 1).sum())} windows are used more than once",
            stacklevel=2,
        )
    return x_syn[idx], y_syn[idx]


def mix(x_real, y_real, x_extra, y_extra) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate real and extra windows into one training set.

    Parameters
    ----------
    x_real : array-like, shape (N, C, L)
    y_real : array-like, shape (N,)
    x_extra : array-like, shape (M, C, L)
    y_extra : array-like, shape (M,)

    Returns
    -------
    x : ndarray, shape (N + M, C, L), float32
    y : ndarray, shape (N + M,), int64
        Real windows first.
    """
    x_real = np.asarray(x_real, dtype=np.float32)
    x_extra = np.asarray(x_extra, dtype=np.float32)
    y_real = np.asarray(y_real, dtype=np.int64)
    y_extra = np.asarray(y_extra, dtype=np.int64)
    if len(x_real) != len(y_real) or len(x_extra) != len(y_extra):
        raise ValueError(
            f"windows and labels differ in number: real {len(x_real)} / {len(y_real)}, "
            f"extra {len(x_extra)} / {len(y_extra)}"
        )
    if len(x_extra) and x_extra.shape[1:] != x_real.shape[1:]:
        raise ValueError(
            f"extra windows have shape {x_extra.shape[1:]} but real ones {x_real.shape[1:]}"
        )
    if len(x_extra) == 0:
        return x_real, y_real
    return np.concatenate([x_real, x_extra]), np.concatenate([y_real, y_extra])


class AugmentedDataset(torch.utils.data.Dataset):
    """Real windows plus ``ratio`` synthetic windows per real one, as ``(x, y)`` tensor pairs:
    the training set of `sasgda train-downstream`, for a training loop of your own.

    The synthetic windows are picked with :func:`select_synthetic` (``balanced``: the same
    number per class; otherwise the synthetic set's own class proportions), seeded by ``seed``.

    Parameters
    ----------
    x_real, y_real : array-like, shapes (N, C, L) and (N,)
    x_syn, y_syn : array-like, shapes (M, C, L) and (M,)
        For example ``SASGDA.sample()``'s output.
    ratio : float
        Synthetic windows per real window; 0 gives the real windows only.
    balanced : bool
    seed : int

    Attributes
    ----------
    x : Tensor, shape (N + round(ratio * N), C, L), float32
    y : Tensor, int64
    n_real : int
        The first ``n_real`` rows are the real windows.
    """

    def __init__(self, x_real, y_real, x_syn, y_syn, ratio: float = 2.0,
                 balanced: bool = False, seed: int = 0):
        n = n_extra(len(x_real), ratio)
        x_extra, y_extra = select_synthetic(x_syn, y_syn, n, np.random.default_rng(seed),
                                            balanced)
        x, y = mix(x_real, y_real, x_extra, y_extra)
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.n_real = len(x_real)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]
