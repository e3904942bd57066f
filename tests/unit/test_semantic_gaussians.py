import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from sklearn.exceptions import NotFittedError

from sasgda.semantic.gaussians import SINGLE_SAMPLE_VARIANCE_FRACTION, ClassGaussians


def _known_gaussian(rng, dim=4):
    mean = rng.normal(size=dim) * 3
    root = rng.normal(size=(dim, dim))
    cov = root @ root.T / dim + 0.5 * np.eye(dim)
    return mean, cov


def test_recovers_known_mean_and_covariance():
    rng = np.random.default_rng(0)
    mean0, cov0 = _known_gaussian(rng)
    mean1, cov1 = _known_gaussian(rng)
    features = np.concatenate(
        [
            rng.multivariate_normal(mean0, cov0, size=20000),
            rng.multivariate_normal(mean1, cov1, size=20000),
        ]
    )
    labels = np.repeat([3, 7], 20000)
    gaussians = ClassGaussians().fit(features, labels)
    np.testing.assert_array_equal(gaussians.classes_, [3, 7])
    np.testing.assert_allclose(gaussians.means_, [mean0, mean1], atol=0.05)
    np.testing.assert_allclose(gaussians.covariances_, [cov0, cov1], atol=0.06)
    np.testing.assert_allclose(
        gaussians.precisions_ @ gaussians.covariances_,
        np.broadcast_to(np.eye(4), (2, 4, 4)),
        atol=1e-8,
    )
    np.testing.assert_array_equal(gaussians.counts_, [20000, 20000])


def test_samples_follow_the_fitted_gaussian_and_scale():
    rng = np.random.default_rng(1)
    mean, cov = _known_gaussian(rng)
    gaussians = ClassGaussians().fit(rng.multivariate_normal(mean, cov, size=500), np.zeros(500))
    draws = gaussians.sample(40000, 0, np.random.default_rng(2), scale=2.0)
    assert draws.shape == (40000, 4) and draws.dtype == np.float32
    np.testing.assert_allclose(draws.mean(axis=0), gaussians.means_[0], atol=0.06)
    np.testing.assert_allclose(np.cov(draws.T), 4 * gaussians.covariances_[0], rtol=0.05, atol=0.1)
    np.testing.assert_allclose(
        gaussians.sample(5, 0, rng, scale=0.0), np.tile(gaussians.means_, (5, 1)), atol=1e-6
    )


def test_class_smaller_than_feature_dim_and_single_sample_class():
    rng = np.random.default_rng(0)
    dim = 16
    features = np.concatenate([rng.normal(size=(5, dim)), rng.normal(size=(1, dim)) + 5])
    labels = np.array([0] * 5 + [1])
    gaussians = ClassGaussians().fit(features, labels)
    for k in range(2):
        assert np.linalg.eigvalsh(gaussians.covariances_[k]).min() > 0
    expected = SINGLE_SAMPLE_VARIANCE_FRACTION * features.var(axis=0).mean() + 1e-6
    np.testing.assert_allclose(gaussians.covariances_[1], expected * np.eye(dim))
    np.testing.assert_allclose(gaussians.means_[1], features[5])
    draws = gaussians.sample(100, 0, rng)
    assert draws.shape == (100, dim) and np.isfinite(draws).all()


def test_mahalanobis_matches_scipy():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(60, 5))
    gaussians = ClassGaussians(shrinkage="oas").fit(features, np.zeros(60, dtype=int))
    points = rng.normal(size=(7, 5))
    expected = [mahalanobis(p, gaussians.means_[0], gaussians.precisions_[0]) ** 2 for p in points]
    np.testing.assert_allclose(gaussians.mahalanobis_sq(points, 0), expected, rtol=1e-10)


def test_same_seed_same_draws_and_round_trip():
    rng = np.random.default_rng(4)
    features, labels = rng.normal(size=(40, 6)), np.repeat([0, 1], 20)
    gaussians = ClassGaussians(shrinkage=0.2).fit(features, labels)
    first = gaussians.sample(10, 1, np.random.default_rng(9))
    np.testing.assert_array_equal(first, gaussians.sample(10, 1, np.random.default_rng(9)))
    rebuilt = ClassGaussians.from_arrays(gaussians.to_arrays())
    np.testing.assert_array_equal(first, rebuilt.sample(10, 1, np.random.default_rng(9)))


def test_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(NotFittedError):
        ClassGaussians().sample(3, 0, rng)
    gaussians = ClassGaussians().fit(rng.normal(size=(10, 3)), np.repeat([0, 1], 5))
    with pytest.raises(ValueError, match="unknown label 5"):
        gaussians.sample(3, 5, rng)
    with pytest.raises(ValueError, match="unknown label"):
        gaussians.mahalanobis_sq(np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match="shrinkage"):
        ClassGaussians(shrinkage="empirical").fit(rng.normal(size=(10, 3)), np.zeros(10))
    with pytest.raises(ValueError, match="labels"):
        ClassGaussians().fit(rng.normal(size=(10, 3)), np.zeros(9))
