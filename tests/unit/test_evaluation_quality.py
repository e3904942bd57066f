"""Generation-quality metrics against closed forms, hand-built examples and scikit-learn."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.neighbors import LocalOutlierFactor

from sasgda.evaluation import quality
from sasgda.evaluation.quality import (
    avg_knn,
    fid,
    frechet_distance,
    knn_radii,
    lof_scores,
    mean_lof,
    prdc,
    quality_metrics,
    rarity_score,
    rarity_scores,
)


def _col(values):
    """A 1-D list of numbers as features of shape (n, 1)."""
    return np.asarray(values, dtype=np.float64)[:, None]


def _exact_moments(rng, n, mean, var):
    """n samples whose sample mean and unbiased variance are exactly ``mean`` and ``var``."""
    z = rng.standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1)
    return _col(mean + np.sqrt(var) * z)


def _reference_prdc(real, fake, k):
    """The formulas of clovaai/generative-evaluation-prdc on dense distance matrices."""
    radii_real = np.sort(cdist(real, real), axis=1)[:, k]
    radii_fake = np.sort(cdist(fake, fake), axis=1)[:, k]
    d = cdist(real, fake)
    inside = d < radii_real[:, None]
    return {
        "precision": inside.any(axis=0).mean(),
        "recall": (d < radii_fake[None, :]).any(axis=1).mean(),
        "density": inside.sum(axis=0).mean() / k,
        "coverage": (d.min(axis=1) < radii_real).mean(),
    }


# --- FID -------------------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 8)) @ rng.standard_normal((8, 8))
    scale = np.trace(np.cov(x, rowvar=False))
    assert abs(fid(x, x)) < 1e-6 * scale


def test_fid_matches_closed_form_for_exact_1d_moments():
    rng = np.random.default_rng(1)
    mu1, s1, mu2, s2 = 1.0, 4.0, -0.5, 0.25
    expected = (mu1 - mu2) ** 2 + s1 + s2 - 2 * np.sqrt(s1 * s2)
    got = fid(_exact_moments(rng, 50, mu1, s1), _exact_moments(rng, 70, mu2, s2))
    assert got == pytest.approx(expected, rel=1e-9)


def test_fid_matches_closed_form_for_large_1d_samples():
    rng = np.random.default_rng(2)
    real = _col(rng.normal(1.0, 2.0, 200_000))
    synthetic = _col(rng.normal(-0.5, 0.5, 200_000))
    assert fid(real, synthetic) == pytest.approx(2.25 + 4.0 + 0.25 - 2.0, abs=0.05)


def test_frechet_distance_matches_eigenvalue_form():
    # For SPD matrices Tr (s1 s2)^(1/2) is the sum of the square roots of the (positive real)
    # eigenvalues of s1 s2, an independent way to get the same number.
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.standard_normal((2, 6))
    tr_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_with_fewer_samples_than_dimensions_is_finite():
    rng = np.random.default_rng(4)
    value = fid(rng.standard_normal((5, 16)), rng.standard_normal((6, 16)) + 1.0)
    assert np.isfinite(value) and value > 0


def test_fid_rejects_bad_shapes():
    with pytest.raises(ValueError, match="feat_dim"):
        fid(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        fid(np.zeros((1, 3)), np.zeros((4, 3)))


# --- neighbourhood metrics -------------------------------------------------------------------


def test_knn_radii_exclude_self():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3))
    expected = np.sort(cdist(x, x), axis=1)[:, 3]
    np.testing.assert_allclose(knn_radii(x, 3), expected, rtol=1e-9)
    np.testing.assert_allclose(knn_radii(_col([0, 1, 3, 20]), 1), [1, 1, 2, 17])


def test_avg_knn_hand_built():
    real = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    synthetic = np.array([[0.0, 0.0], [3.0, 4.0]])
    # distances of (0,0): 0, 3, 4 -> mean of the 2 nearest 1.5; of (3,4): 5, 4, 3 -> 3.5
    assert avg_knn(synthetic, real, k=2) == pytest.approx(2.5)
    assert avg_knn(synthetic, real, k=3) == pytest.approx((7 / 3 + 4) / 2)
    with pytest.raises(ValueError, match="k must be in"):
        avg_knn(synthetic, real, k=4)


def test_lof_agrees_with_scikit_learn():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((200, 4))
    synthetic = np.concatenate([rng.standard_normal((30, 4)), [[8.0, 8.0, 8.0, 8.0]]])
    expected = -LocalOutlierFactor(n_neighbors=10, novelty=True).fit(real).score_samples(synthetic)
    scores = lof_scores(synthetic, real, k=10)
    np.testing.assert_allclose(scores, expected)
    assert mean_lof(synthetic, real, k=10) == pytest.approx(expected.mean())
    # higher = more outlying: the far point scores far above the inliers (about 1)
    assert scores[-1] > 3 * np.median(scores[:-1])
    assert 0.8 < np.median(scores[:-1]) < 1.5


def test_rarity_hand_built():
    real = _col([0, 1, 3, 20])  # k = 1 radii: 1, 1, 2, 17
    synthetic = _col([0.5, 2.0, 2.5, 10.0, 40.0])
    # 0.5 lies in the balls of 0 and 1 -> 1; 2.0 on the boundary of 1's ball (<= counts) and
    # inside 3's -> 1; 2.5 only in 3's -> 2; 10 only in 20's -> 17; 40 in none -> nan.
    np.testing.assert_array_equal(rarity_scores(synthetic, real, k=1), [1, 1, 2, 17, np.nan])
    mean, inside = rarity_score(synthetic, real, k=1)
    assert mean == pytest.approx(21 / 4)
    assert inside == pytest.approx(4 / 5)


def test_rarity_of_far_samples_is_nan_with_zero_coverage():
    real = _col([0, 1, 2])
    mean, inside = rarity_score(_col([50, 60]), real, k=1)
    assert np.isnan(mean) and inside == 0.0


def test_prdc_hand_built():
    real = _col([0, 1, 3, 20])  # k = 1 radii: 1, 1, 2, 17
    fake = _col([0.5, 2.5, 40, 41])  # k = 1 radii: 2, 2, 1, 1
    # 0.5 is in 2 real balls, 2.5 in 1, 40 and 41 in none: precision 2/4, density 3/4.
    # Real 0, 1, 3 lie in the ball of 0.5 or 2.5, real 20 in none: recall 3/4.
    # Nearest fakes of 0, 1, 3 are within their radii, that of 20 (17.5 > 17) is not: 3/4.
    assert prdc(real, fake, k=1) == pytest.approx(
        {"precision": 0.5, "recall": 0.75, "density": 0.75, "coverage": 0.75}
    )


def test_prdc_balls_are_open():
    # The fake at 2 is exactly at distance r = 1 from real 1: outside, as in the reference code.
    assert prdc(_col([0, 1]), _col([2, 3]), k=1)["precision"] == 0.0


def test_prdc_identical_and_disjoint_sets():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 5))
    same = prdc(x, x, k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] == pytest.approx(1.0, abs=0.02)
    far = prdc(x, x + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_matches_reference_formulas_in_small_blocks(monkeypatch):
    rng = np.random.default_rng(8)
    real = rng.standard_normal((60, 3))
    fake = 0.8 * rng.standard_normal((45, 3)) + 0.5
    expected = _reference_prdc(real, fake, k=4)
    assert prdc(real, fake, k=4) == pytest.approx(expected)
    # Blocks of a few rows give the same answer as one block.
    monkeypatch.setattr(quality, "_BLOCK_ELEMENTS", 7 * 60)
    assert prdc(real, fake, k=4) == pytest.approx(expected)
    np.testing.assert_allclose(knn_radii(real, 4), np.sort(cdist(real, real), axis=1)[:, 4])


def test_quality_metrics_bundles_every_metric():
    rng = np.random.default_rng(9)
    real = rng.standard_normal((120, 4))
    synthetic = rng.standard_normal((80, 4)) + 0.3
    out = quality_metrics(real, synthetic, k=5, lof_k=10)
    assert set(out) == {
        "fid", "avg_knn", "lof", "rarity",
        "precision", "recall", "density", "coverage", "n_real", "n_synthetic",
    }  # fmt: skip
    assert out["fid"] == pytest.approx(fid(real, synthetic))
    assert out["avg_knn"] == pytest.approx(avg_knn(synthetic, real, 5))
    assert out["lof"] == pytest.approx(mean_lof(synthetic, real, 10))
    mean_rarity, fraction_inside = rarity_score(synthetic, real, 5)
    assert out["rarity"] == pytest.approx(mean_rarity)
    # The samples that rarity averages over are those that precision counts.
    assert out["precision"] == pytest.approx(fraction_inside)
    assert out["coverage"] == pytest.approx(prdc(real, synthetic, 5)["coverage"])
    assert (out["n_real"], out["n_synthetic"]) == (120, 80)


def test_metrics_reject_non_finite_features():
    x = np.zeros((5, 2))
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        prdc(x, np.ones((5, 2)), k=1)
