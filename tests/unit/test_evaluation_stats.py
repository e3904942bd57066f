"""Wilcoxon test against scipy; mean ± sd formatting."""

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from sasgda.evaluation import format_mean_sd, mean_sd, paired_wilcoxon


def test_paired_wilcoxon_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(0.80, 0.05, 10)
    b = a - rng.normal(0.02, 0.02, 10)
    assert paired_wilcoxon(a, b) == pytest.approx(wilcoxon(a, b).pvalue)
    assert paired_wilcoxon(a, b) == pytest.approx(paired_wilcoxon(b, a))


def test_paired_wilcoxon_drops_non_finite_pairs():
    a = np.array([0.9, 0.8, 0.85, np.nan, 0.7, 0.75, 0.95])
    b = np.array([0.8, 0.7, 0.80, 0.5, 0.71, 0.6, 0.90])
    keep = ~np.isnan(a)
    assert paired_wilcoxon(a, b) == pytest.approx(wilcoxon(a[keep], b[keep]).pvalue)


def test_paired_wilcoxon_undefined_cases_give_nan_with_a_reason():
    with pytest.warns(RuntimeWarning, match="at least 2 pairs"):
        assert math.isnan(paired_wilcoxon([0.8], [0.7]))
    with pytest.warns(RuntimeWarning, match="all paired differences are zero"):
        assert math.isnan(paired_wilcoxon([0.8, 0.7, 0.6], [0.8, 0.7, 0.6]))
    with pytest.raises(ValueError, match="same length"):
        paired_wilcoxon([0.8, 0.7], [0.8])


def test_mean_sd_uses_ddof_1():
    mean, sd = mean_sd([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9)
    assert sd == pytest.approx(0.1)
    assert mean_sd([0.8])[0] == 0.8 and math.isnan(mean_sd([0.8])[1])
    assert all(math.isnan(v) for v in mean_sd([]))


def test_format_mean_sd():
    assert format_mean_sd([0.801, 0.78, 0.822]) == "80.1 ± 2.1"
    assert format_mean_sd([1.5, 2.5], scale=1, digits=2) == "2.00 ± 0.71"
    assert format_mean_sd([0.8031]) == "80.3"
    assert format_mean_sd([]) == "n/a"
