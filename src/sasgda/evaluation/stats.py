"""Summary statistics for the benchmark tables (design.md section 6).

Mean ± sd over subjects and seeds, and a paired Wilcoxon signed-rank test across subjects of a
method against the ``none`` baseline (:func:`scipy.stats.wilcoxon`).
"""

import warnings

import numpy as np
from scipy.stats import wilcoxon


def paired_wilcoxon(a, b) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test on the pairs ``(a[i], b[i])``.

    Pairs with a non-finite value are dropped. The test cannot be computed, and ``nan`` is
    returned with a ``RuntimeWarning`` that says why, when fewer than 2 pairs remain or when
    every difference is zero (identical results carry no evidence either way). Otherwise
    scipy's defaults apply: zero differences are discarded (``zero_method="wilcox"``) and small
    samples use the exact distribution.

    Parameters
    ----------
    a, b : array-like, shape (n_pairs,)
        Paired measurements, e.g. the accuracy of two methods on the same subjects.

    Returns
    -------
    float
        The p-value, or ``nan`` when the test cannot be computed.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D and of the same length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    diff = a[keep] - b[keep]
    if diff.size < 2:
        warnings.warn(
            f"Wilcoxon test needs at least 2 pairs, got {diff.size}; p = nan",
            RuntimeWarning,
            stacklevel=2,
        )
        return float("nan")
    if np.all(diff == 0):
        warnings.warn(
            "Wilcoxon test: all paired differences are zero; p = nan", RuntimeWarning, stacklevel=2
        )
        return float("nan")
    return float(wilcoxon(a[keep], b[keep], alternative="two-sided").pvalue)


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``) of a 1-D sequence.

    With a single value the sd is ``nan`` (one run says nothing about spread; a ``0`` would
    claim a precision the data do not have); with none, both are ``nan``. Values are not
    filtered: a ``nan`` among them makes both results ``nan``.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return float("nan"), float("nan")
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return mean, sd


def format_mean_sd(values, scale: float = 100.0, digits: int = 1) -> str:
    """Format ``values`` as ``"80.3 ± 2.1"`` after multiplying by ``scale``.

    A single value prints without the ``± sd`` part (its sd is undefined, see :func:`mean_sd`);
    an empty sequence prints ``"n/a"``.
    """
    mean, sd = mean_sd(values)
    if np.isnan(mean):
        return "n/a"
    if np.isnan(sd):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {sd * scale:.{digits}f}"
