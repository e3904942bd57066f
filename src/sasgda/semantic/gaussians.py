"""GMSS, Gaussian modelling semantic sampling (SASG-DA, design.md section 5).

Per class k a multivariate Gaussian N(mu_k, Sigma_k) is fitted to the task-aware classifier's
features of the real training windows; new conditions for the generator are drawn from it.
The paper uses the empirical covariance; here it is a shrinkage estimate
(``sklearn.covariance.LedoitWolf`` by default) because a class often has fewer windows than the
feature has dimensions (D = 128), where the empirical covariance is singular.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import OAS, LedoitWolf, ShrunkCovariance
from sklearn.exceptions import NotFittedError

# A class with a single window has no spread to estimate: it gets an isotropic covariance of
# this fraction of the average per-dimension variance of all features (all classes pooled).
SINGLE_SAMPLE_VARIANCE_FRACTION = 0.01


def _covariance(features: np.ndarray, shrinkage: str | float) -> np.ndarray:
    """Shrinkage covariance of ``features`` (n, D), n >= 2."""
    if shrinkage == "ledoit-wolf":
        estimator = LedoitWolf()
    elif shrinkage == "oas":
        estimator = OAS()
    else:
        estimator = ShrunkCovariance(shrinkage=float(shrinkage))
    return estimator.fit(features).covariance_


class ClassGaussians:
    """One Gaussian per class over semantic features, scikit-learn style.

    Parameters
    ----------
    shrinkage : {"ledoit-wolf", "oas"} or float
        Covariance estimator: ``sklearn.covariance.LedoitWolf``, ``OAS``, or
        ``ShrunkCovariance`` with this fixed shrinkage in [0, 1].
    reg_covar : float
        Added to the diagonal of every covariance so that it is positive definite even when a
        class's features are all identical (as ``sklearn.mixture.GaussianMixture`` does).

    Attributes
    ----------
    classes_ : ndarray, shape (K,)
        Sorted class labels seen in ``fit``.
    means_ : ndarray, shape (K, D)
    covariances_ : ndarray, shape (K, D, D)
        A class with one window gets ``SINGLE_SAMPLE_VARIANCE_FRACTION`` times the average
        per-dimension variance of all features as an isotropic covariance.
    precisions_ : ndarray, shape (K, D, D)
        Inverses of ``covariances_``.
    counts_ : ndarray, shape (K,)
        Windows per class.
    """

    def __init__(self, shrinkage: str | float = "ledoit-wolf", reg_covar: float = 1e-6):
        self.shrinkage = shrinkage
        self.reg_covar = reg_covar

    def fit(self, features, labels) -> ClassGaussians:
        """Fit one Gaussian per class.

        Parameters
        ----------
        features : array-like, shape (N, D)
        labels : array-like, shape (N,)
            Integer class labels.

        Returns
        -------
        self
        """
        if isinstance(self.shrinkage, str):
            if self.shrinkage not in ("ledoit-wolf", "oas"):
                raise ValueError(
                    f"shrinkage must be 'ledoit-wolf', 'oas' or a number in [0, 1], "
                    f"got {self.shrinkage!r}"
                )
        elif not 0.0 <= float(self.shrinkage) <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {self.shrinkage}")
        if self.reg_covar < 0:
            raise ValueError(f"reg_covar must be >= 0, got {self.reg_covar}")
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        if features.ndim != 2 or len(features) == 0:
            raise ValueError(f"features must be 2-D (N, D) with N >= 1, got {features.shape}")
        if labels.shape != (len(features),):
            raise ValueError(f"labels must have shape ({len(features)},), got {labels.shape}")
        if not np.isfinite(features).all():
            raise ValueError("features hold non-finite values (nan or inf)")

        dim = features.shape[1]
        self.classes_ = np.unique(labels)
        n_classes = len(self.classes_)
        self.means_ = np.zeros((n_classes, dim))
        self.covariances_ = np.zeros((n_classes, dim, dim))
        self.counts_ = np.zeros(n_classes, dtype=np.int64)
        single_variance = SINGLE_SAMPLE_VARIANCE_FRACTION * features.var(axis=0).mean()
        for i, label in enumerate(self.classes_):
            members = features[labels == label]
            self.counts_[i] = len(members)
            self.means_[i] = members.mean(axis=0)
            if len(members) == 1:
                self.covariances_[i] = single_variance * np.eye(dim)
            else:
                self.covariances_[i] = _covariance(members, self.shrinkage)
            self.covariances_[i] += self.reg_covar * np.eye(dim)
        self._set_factors()
        return self

    def _set_factors(self) -> None:
        # The Cholesky factor turns standard normal draws into draws from N(mu, Sigma).
        self._cholesky = np.linalg.cholesky(self.covariances_)
        self.precisions_ = np.linalg.inv(self.covariances_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError("ClassGaussians is not fitted yet: call fit(features, labels)")

    def _index(self, label) -> int:
        self._check_fitted()
        where = np.flatnonzero(self.classes_ == label)
        if len(where) == 0:
            raise ValueError(
                f"unknown label {label!r}; fitted classes are {self.classes_.tolist()}"
            )
        return int(where[0])

    def sample(self, n: int, label, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Draw ``n`` features from class ``label``'s Gaussian.

        Parameters
        ----------
        n : int
            Number of draws, >= 0.
        label : int
            A label from ``classes_``.
        rng : numpy.random.Generator
        scale : float
            Multiplies the standard deviation (the covariance by ``scale ** 2``), >= 0.

        Returns
        -------
        ndarray, shape (n, D), float32
        """
        i = self._index(label)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if scale < 0:
            raise ValueError(f"scale must be >= 0, got {scale}")
        noise = rng.standard_normal((n, self.means_.shape[1]))
        draws = self.means_[i] + scale * noise @ self._cholesky[i].T
        return draws.astype(np.float32)

    def mahalanobis_sq(self, features, label) -> np.ndarray:
        """Squared Mahalanobis distance of each feature to class ``label``'s Gaussian.

        Parameters
        ----------
        features : array-like, shape (M, D)
        label : int

        Returns
        -------
        ndarray, shape (M,), float64
        """
        i = self._index(label)
        diff = np.asarray(features, dtype=np.float64) - self.means_[i]
        return np.einsum("md,de,me->m", diff, self.precisions_[i], diff)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as arrays (for ``semantic/gmss.npz``)."""
        self._check_fitted()
        return {
            "classes": self.classes_,
            "means": self.means_,
            "covariances": self.covariances_,
            "counts": self.counts_,
        }

    @classmethod
    def from_arrays(cls, arrays) -> ClassGaussians:
        """Rebuild a fitted instance from :meth:`to_arrays` output (e.g. a loaded npz)."""
        gaussians = cls()
        gaussians.classes_ = np.asarray(arrays["classes"])
        gaussians.means_ = np.asarray(arrays["means"], dtype=np.float64)
        gaussians.covariances_ = np.asarray(arrays["covariances"], dtype=np.float64)
        gaussians.counts_ = np.asarray(arrays["counts"], dtype=np.int64)
        gaussians._set_factors()
        return gaussians
