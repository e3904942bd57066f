import dataclasses
import warnings

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from sasgda.config import ConditionsConfig
from sasgda.semantic import (
    ClassGaussians,
    SparseAwareSampler,
    head_confidence,
    rarity_scores,
    sass_potential,
)

torch.set_num_threads(1)


def _features(dim=8, per_class=150, n_classes=3, seed=0):
    """Gaussian classes with correlated features and a linear (LDA-like) head."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, dim)) * 2
    mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim) + np.eye(dim)
    features = np.concatenate([m + rng.normal(size=(per_class, dim)) @ mixing for m in means])
    labels = np.repeat(np.arange(n_classes), per_class)
    gaussians = ClassGaussians().fit(features, labels)
    weight = gaussians.means_ @ np.linalg.inv(gaussians.covariances_.mean(axis=0))
    bias = -0.5 * (weight * gaussians.means_).sum(axis=1)
    weight = torch.tensor(weight, dtype=torch.float32)
    bias = torch.tensor(bias, dtype=torch.float32)
    return features.astype(np.float32), labels, gaussians, lambda f: f @ weight.T + bias


def _sampler(dim=8, per_class=150, **changes):
    """A sampler with the Gaussian candidates unless ``changes`` say otherwise: most tests here
    are about the rarity selection and the refinement that only those go through."""
    changes.setdefault("candidates", "gaussian")
    features, labels, gaussians, head = _features(dim, per_class)
    cfg = dataclasses.replace(ConditionsConfig(), **changes)
    return SparseAwareSampler(gaussians, features, labels, head, cfg)


def test_rarity_scores_oracle():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    # k = 1: radii are 1, 1, 1, 1 and 7 (the point at 10 reaches back to 3).
    scores = rarity_scores(np.array([[0.5], [6.0], [20.0]]), real, k=1)
    np.testing.assert_allclose(scores[:2], [1.0, 7.0])
    assert np.isnan(scores[2])
    with pytest.raises(ValueError, match="k must be"):
        rarity_scores(np.zeros((1, 1)), real, k=5)


def test_gaussian_sass_conditions_are_rarer_and_sparser_than_gmss():
    sampler = _sampler()
    real = sampler.standardise(sampler.features[sampler.labels == 0])
    sass = sampler.sample(0, 100, np.random.default_rng(1))
    gmss_cond = sampler.gaussians.sample(100, 0, np.random.default_rng(1))
    gmss = {"cond": gmss_cond, "rarity": sampler.rarity(gmss_cond, 0)}
    assert len(sass["cond"]) > 50
    assert np.nanmean(sass["rarity"]) > np.nanmean(gmss["rarity"])
    knn = NearestNeighbors(n_neighbors=5).fit(real)

    def avg_knn(cond):
        return knn.kneighbors(sampler.standardise(cond))[0].mean()

    assert avg_knn(sass["cond"]) > 1.2 * avg_knn(gmss["cond"])


def test_output_shapes_records_and_determinism():
    sampler = _sampler()
    first = sampler.sample(2, 30, np.random.default_rng(5))
    second = sampler.sample(2, 30, np.random.default_rng(5))
    assert set(first) == {"cond", "rarity", "confidence"}
    n = len(first["cond"])
    assert 0 < n <= 30
    assert first["cond"].shape == (n, 8) and first["cond"].dtype == np.float32
    assert first["rarity"].shape == (n,) and first["confidence"].shape == (n,)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    np.testing.assert_array_equal(first["rarity"], sampler.rarity(first["cond"], 2))
    empty = sampler.sample(2, 0, np.random.default_rng(5))
    assert empty["cond"].shape == (0, 8) and empty["rarity"].shape == (0,)


def test_confidence_filter_removes_every_condition_below_threshold():
    loose = _sampler(confidence=0.0).sample(0, 100, np.random.default_rng(1))
    strict_sampler = _sampler(confidence=0.99)
    strict = strict_sampler.sample(0, 100, np.random.default_rng(1))
    # Same seed, same candidates and refinement: the filter alone makes the difference.
    assert 0 < len(strict["cond"]) < len(loose["cond"])
    assert (strict["confidence"] >= 0.99).all()
    recomputed = head_confidence(strict_sampler.head, strict["cond"], 0)
    np.testing.assert_allclose(recomputed, strict["confidence"])
    assert (loose["confidence"] < 0.99).sum() == len(loose["cond"]) - len(strict["cond"])


@pytest.mark.parametrize("dim, m", [(4, 5), (24, 60)])
def test_each_step_moves_a_condition_by_epsilon_median_radii(dim, m):
    sampler = _sampler(dim=dim, iters=1, epsilon=0.1)
    cond = sampler.gaussians.sample(m, 1, np.random.default_rng(0))
    moved = sampler.refine(cond, 1)
    step = np.linalg.norm(sampler.standardise(moved) - sampler.standardise(cond), axis=1)
    np.testing.assert_allclose(step / sampler.median_radius(1), 0.1, rtol=1e-3)
    travelled = _sampler(dim=dim, iters=5, epsilon=0.1).refine(cond, 1)
    total = np.linalg.norm(sampler.standardise(travelled) - sampler.standardise(cond), axis=1)
    assert (total / sampler.median_radius(1) <= 0.5 + 1e-4).all()


def test_refinement_terms_do_what_they_say():
    rng = np.random.default_rng(0)
    # Sparsity alone moves conditions away from the real features.
    sampler = _sampler(lambda_d=0.0, lambda_f=0.0)
    cond = sampler.gaussians.sample(30, 0, rng)
    knn = NearestNeighbors(n_neighbors=5).fit(sampler.features[sampler.labels == 0])
    before, after = (knn.kneighbors(c)[0].mean() for c in (cond, sampler.refine(cond, 0)))
    assert after > before
    # Diversity alone pushes two nearly equal conditions apart.
    sampler = _sampler(lambda_s=0.0, lambda_f=0.0)
    pair = sampler.gaussians.means_[[0, 0]] + np.array([[0.0] * 8, [0.01] + [0.0] * 7])
    apart = sampler.refine(pair, 0)
    assert np.linalg.norm(apart[0] - apart[1]) > 10 * np.linalg.norm(pair[0] - pair[1])
    # Fidelity keeps long sparsity-driven walks near the chi2 ellipsoid.
    cond = sampler.gaussians.sample(30, 0, rng)
    threshold = sampler._state(0)["threshold"]
    walk = {"lambda_d": 0.0, "iters": 100}
    free = _sampler(lambda_f=0.0, **walk).refine(cond, 0)
    held = _sampler(lambda_f=1.0, **walk).refine(cond, 0)
    assert sampler.gaussians.mahalanobis_sq(free, 0).max() > 5 * threshold
    assert sampler.gaussians.mahalanobis_sq(held, 0).max() < 1.2 * threshold


def test_potential_terms():
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    cond = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    energy, terms = sass_potential(
        cond,
        real,
        torch.zeros(2),
        torch.eye(2),
        threshold=1.0,
        k=1,
        lambda_s=1.0,
        lambda_d=2.0,
        lambda_f=3.0,
        bandwidth=5.0,
    )
    # Nearest real feature: itself (distance 0) for the first, (0, 1) for the second.
    assert terms["sparsity"] == pytest.approx(-np.sqrt(18), abs=1e-4)
    assert terms["diversity"] == pytest.approx(2 * np.exp(-25 / 50), rel=1e-5)
    assert terms["fidelity"] == pytest.approx(25 - 1, rel=1e-6)
    expected = terms["sparsity"] + 2 * terms["diversity"] + 3 * terms["fidelity"]
    assert float(energy) == pytest.approx(expected, rel=1e-5)


def test_small_class_and_errors():
    features, labels, gaussians, head = _features(per_class=4)
    sampler = SparseAwareSampler(gaussians, features, labels, head)
    with pytest.warns(UserWarning, match="using k = 3"):
        out = sampler.sample(0, 5, np.random.default_rng(0))
    assert len(out["cond"]) <= 5
    with pytest.raises(ValueError, match="unknown label 9"):
        sampler.sample(9, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="conditions.epsilon"):
        SparseAwareSampler(
            gaussians, features, labels, head, dataclasses.replace(ConditionsConfig(), epsilon=-1)
        )
    with pytest.raises(ValueError, match="features must have shape"):
        SparseAwareSampler(gaussians, features[:, :3], labels, head)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="not a column"):
            head_confidence(head, features[:2], 7)


def test_neighbour_candidates_lie_between_real_neighbours_and_favour_sparse_regions():
    # Class 0: a dense cluster of 100 features and a sparse one of 20, far apart.
    rng = np.random.default_rng(0)
    dense, sparse = rng.normal(0, 0.1, (100, 8)), rng.normal(5, 1.0, (20, 8))
    features = np.concatenate([dense, sparse, rng.normal(-5, 1.0, (60, 8))]).astype(np.float32)
    labels = np.repeat([0, 0, 1], [100, 20, 60])
    gaussians = ClassGaussians().fit(features, labels)
    cfg = dataclasses.replace(ConditionsConfig(), candidates="neighbours", iters=0, confidence=0.0)
    sampler = SparseAwareSampler(gaussians, features, labels, lambda f: f[:, :2], cfg)
    cond = sampler.neighbour_candidates(0, 3000, np.random.default_rng(1))
    assert cond.shape == (3000, 8) and cond.dtype == np.float32
    # Inside the anchor's k-NN ball: every condition is on the manifold.
    assert not np.isnan(sampler.rarity(cond, 0)).any()
    # Anchors are drawn in proportion to their k-NN radius: the sparse cluster, 1/6 of the
    # real features, gets most of the conditions.
    in_sparse = np.linalg.norm(cond - 5, axis=1) < np.linalg.norm(cond, axis=1)
    assert in_sparse.mean() > 0.5
    out = sampler.sample(0, 50, np.random.default_rng(2))
    assert len(out["cond"]) == 50
    with pytest.raises(ValueError, match="conditions.candidates='grid'"):
        _sampler(candidates="grid")
