import numpy as np
import pytest

from sasgda.augment.mixing import balanced_indices, mix, n_extra, select_synthetic


def test_n_extra():
    assert n_extra(100, 2.0) == 200
    assert n_extra(3, 0.5) == 2
    assert n_extra(7, 0.0) == 0
    with pytest.raises(ValueError, match="ratio"):
        n_extra(10, -1.0)


def test_balanced_indices_round_robin_without_repeats_when_possible():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    idx = balanced_indices(labels, 60, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(labels[idx]), [20, 20, 20])
    assert len(np.unique(idx)) == 60
    again = balanced_indices(labels, 60, np.random.default_rng(0))
    np.testing.assert_array_equal(idx, again)
    # 31 rows per class: class 2 must reuse rows, each at most twice.
    idx = balanced_indices(labels, 93, np.random.default_rng(0))
    _, counts = np.unique(idx[labels[idx] == 2], return_counts=True)
    assert counts.max() == 2 and len(counts) == 20
    unbalanced = balanced_indices(labels, 100, np.random.default_rng(0), balanced=False)
    np.testing.assert_array_equal(np.sort(unbalanced), np.arange(100))


def test_balanced_indices_takes_a_set_made_with_the_same_quota_whole():
    # `generate` gives the n % K extra windows to some classes; picking n windows back must take
    # the set whole, without repeating a window of a class that got no extra one.
    for seed in range(20):
        labels = np.repeat(np.arange(7), [5, 5, 5, 4, 4, 4, 4])
        idx = balanced_indices(labels, len(labels), np.random.default_rng(seed))
        np.testing.assert_array_equal(np.sort(idx), np.arange(len(labels)))


def test_select_synthetic_balanced_and_warns_when_short():
    rng = np.random.default_rng(0)
    x_syn = rng.normal(size=(90, 2, 8)).astype(np.float32)
    y_syn = np.repeat([0, 1, 2], [40, 40, 10])
    x, y = select_synthetic(x_syn, y_syn, 30, np.random.default_rng(1))
    assert x.shape == (30, 2, 8) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [10, 10, 10])
    with pytest.warns(UserWarning, match=r"classes \[2\]"):
        x, y = select_synthetic(x_syn, y_syn, 45, np.random.default_rng(1))
    np.testing.assert_array_equal(np.bincount(y), [15, 15, 15])


def test_mix():
    x_real, y_real = np.zeros((5, 2, 8)), np.zeros(5, dtype=int)
    x_extra, y_extra = np.ones((3, 2, 8)), np.ones(3, dtype=int)
    x, y = mix(x_real, y_real, x_extra, y_extra)
    assert x.shape == (8, 2, 8) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 3)
    with pytest.raises(ValueError, match="shape"):
        mix(x_real, y_real, np.ones((3, 2, 9)), y_extra)
    x, y = mix(x_real, y_real, np.zeros((0, 2, 8)), np.zeros(0))
    assert len(x) == 5
