"""Generation-quality metrics on evaluator features (design.md section 6).

Every metric compares synthetic features ``synthetic`` (M, D) with real features ``real``
(N, D), both taken from the same fixed evaluator network:

- FID, the Fréchet distance between Gaussians fitted to the two sets (Heusel et al., 2017), with
  the numerical safeguards of ``pytorch-fid`` (re-implemented here; that package is not a
  dependency).
- AvgKNN, the mean distance of a synthetic feature to its k nearest real features.
- LOF, the local outlier factor of each synthetic feature with respect to the real set
  (scikit-learn ``LocalOutlierFactor(novelty=True)``).
- Rarity Score (Han et al., ICLR 2023) and its coverage, the fraction of synthetic features that
  fall inside the real k-NN balls.
- Precision, recall, density and coverage (Naeem et al., ICML 2020), with the formulas of the
  reference implementation ``clovaai/generative-evaluation-prdc``.

CAS (train on synthetic, test on real) needs a trained model and lives with the pipeline.
Pairwise distances are computed in row blocks, so memory stays bounded for large sets.
"""

from collections.abc import Iterator

import numpy as np
from scipy.linalg import sqrtm
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from tqdm.auto import tqdm

from sasgda.semantic.sass import rarity_scores  # the same Rarity Score as SASS uses

# Largest distance block held in memory at once (float64 entries, 128 MiB).
_BLOCK_ELEMENTS = 2**24


def _check_features(name: str, features, min_rows: int = 1) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, feat_dim), got shape {features.shape}")
    if features.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {features.shape[0]}")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return features


def _check_pair(real, synthetic, min_real: int = 1, min_synthetic: int = 1):
    real = _check_features("real", real, min_real)
    synthetic = _check_features("synthetic", synthetic, min_synthetic)
    if real.shape[1] != synthetic.shape[1]:
        raise ValueError(
            f"real has feat_dim {real.shape[1]} but synthetic has feat_dim {synthetic.shape[1]}"
        )
    return real, synthetic


def _check_k(k: int, n: int, name: str, strict: bool = True) -> int:
    # A k-NN radius within a set excludes the point itself, so it needs k < n; a neighbour
    # search from another set needs only k <= n.
    upper = n - 1 if strict else n
    if not 1 <= k <= upper:
        raise ValueError(f"k must be in [1, {upper}] for {n} {name} features, got {k}")
    return int(k)


def _distance_blocks(x: np.ndarray, y: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, D)`` with ``D[i, j] = ||x[rows][i] - y[j]||`` block by block over ``x``."""
    block = max(1, _BLOCK_ELEMENTS // max(len(y), 1))
    for start in range(0, len(x), block):
        rows = slice(start, min(start + block, len(x)))
        yield rows, euclidean_distances(x[rows], y)


def knn_radii(features, k: int = 5) -> np.ndarray:
    """Distance of every feature to its k-th nearest neighbour in the same set, self excluded.

    PRDC compares distances to these radii with a strict ``<``, so the radii are computed with
    the very distance routine the comparisons use (not scikit-learn's neighbour search, whose
    rounding differs in the last bits).

    Parameters
    ----------
    features : array-like, shape (n_samples, feat_dim)
    k : int
        Neighbour rank, in ``[1, n_samples - 1]``.

    Returns
    -------
    ndarray, shape (n_samples,)
        The radius of the k-NN ball around each feature (the ``(k + 1)``-th smallest distance
        of its row, the first being the point itself, as in the PRDC reference code).
    """
    features = _check_features("features", features, min_rows=2)
    k = _check_k(k, len(features), "features")
    radii = np.empty(len(features))
    for rows, dist in _distance_blocks(features, features):
        radii[rows] = np.partition(dist, k, axis=1)[:, k]
    return radii


# --- FID -------------------------------------------------------------------------------------


def feature_moments(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (feat_dim,) and unbiased covariance (feat_dim, feat_dim) of (n_samples, feat_dim)."""
    features = _check_features("features", features, min_rows=2)
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``, with the matrix square
    root from :func:`scipy.linalg.sqrtm`. As in ``pytorch-fid``: when the covariance product is
    near singular the square root can come out non-finite or with a large imaginary part; the
    product is then recomputed with ``eps * I`` added to both covariances. A small imaginary
    part left by rounding is dropped. The result can be a tiny negative number (rounding) when
    the two Gaussians are the same.

    Parameters
    ----------
    mu1, mu2 : array-like, shape (feat_dim,)
    sigma1, sigma2 : array-like, shape (feat_dim, feat_dim)
    eps : float
        Diagonal offset used only when the plain square root fails.

    Returns
    -------
    float
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    dim = mu1.shape[0]
    for name, value, shape in [
        ("mu2", mu2, (dim,)),
        ("sigma1", sigma1, (dim, dim)),
        ("sigma2", sigma2, (dim, dim)),
    ]:
        if value.shape != shape:
            raise ValueError(f"{name} has shape {value.shape}, expected {shape}")

    def usable(root: np.ndarray) -> bool:
        if not np.isfinite(root).all():
            return False
        return not np.iscomplexobj(root) or np.allclose(np.diagonal(root).imag, 0, atol=1e-3)

    covmean = sqrtm(sigma1 @ sigma2)
    if not usable(covmean):
        offset = np.eye(dim) * eps
        covmean = sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not usable(covmean):
            raise ValueError(
                "the square root of the covariance product is not real even with eps="
                f"{eps}; use more samples than feature dimensions or a larger eps"
            )
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid(real, synthetic, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to real (N, D) and synthetic (M, D) features.

    Lower is better; 0 when both sets have the same mean and covariance. See
    :func:`frechet_distance` for the numerical safeguards. Needs N, M >= 2; with fewer samples
    than dimensions the covariances are singular and the value is unreliable.
    """
    real, synthetic = _check_pair(real, synthetic, min_real=2, min_synthetic=2)
    return frechet_distance(*feature_moments(real), *feature_moments(synthetic), eps=eps)


# --- neighbourhood metrics -------------------------------------------------------------------


def avg_knn(synthetic, real, k: int = 5) -> float:
    """AvgKNN: mean distance of each synthetic feature to its k nearest real features.

    Parameters
    ----------
    synthetic : array-like, shape (M, D)
    real : array-like, shape (N, D)
    k : int
        Number of real neighbours, in ``[1, N]``.

    Returns
    -------
    float
        The mean over the M synthetic features of the mean of their k distances. Lower means
        closer to the real data (fidelity).
    """
    real, synthetic = _check_pair(real, synthetic)
    k = _check_k(k, len(real), "real", strict=False)
    dist, _ = NearestNeighbors(n_neighbors=k).fit(real).kneighbors(synthetic)
    return float(dist.mean())


def lof_scores(synthetic, real, k: int = 20) -> np.ndarray:
    """Local outlier factor of each synthetic feature with respect to the real features.

    A ``LocalOutlierFactor(n_neighbors=k, novelty=True)`` is fitted on ``real`` and the
    returned value is ``-score_samples(synthetic)``, i.e. the LOF itself: about 1 for a sample
    as dense as its real neighbourhood, larger the more outlying it is (higher = worse).

    Parameters
    ----------
    synthetic : array-like, shape (M, D)
    real : array-like, shape (N, D)
    k : int
        ``n_neighbors`` of the LOF, in ``[1, N - 1]`` (scikit-learn's default is 20).

    Returns
    -------
    ndarray, shape (M,)
    """
    real, synthetic = _check_pair(real, synthetic, min_real=2)
    k = _check_k(k, len(real), "real")
    lof = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(real)
    return -lof.score_samples(synthetic)


def mean_lof(synthetic, real, k: int = 20) -> float:
    """Mean of :func:`lof_scores` over the synthetic features (higher = more outlying)."""
    return float(lof_scores(synthetic, real, k).mean())


def rarity_score(synthetic, real, k: int = 5) -> tuple[float, float]:
    """Mean Rarity Score over the synthetic features that lie inside some real k-NN ball.

    Returns
    -------
    mean_rarity : float
        Mean of :func:`rarity_scores` over the samples inside a ball (``nan`` if there is none).
    fraction_inside : float
        Fraction of synthetic samples inside at least one ball; the others are excluded from
        the mean.
    """
    scores = rarity_scores(synthetic, real, k)
    inside = ~np.isnan(scores)
    mean = float(scores[inside].mean()) if inside.any() else float("nan")
    return mean, float(inside.mean())


def prdc(real, synthetic, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al., ICML 2020).

    With ``r_j`` the k-NN radius of real feature j and ``q_i`` that of synthetic feature i
    (each within its own set, self excluded), and ``d`` the Euclidean distance:

    - precision = mean over synthetic i of 1[exists j: d(s_i, R_j) < r_j]
    - recall    = mean over real j of 1[exists i: d(R_j, s_i) < q_i]
    - density   = (1 / k) * mean over synthetic i of #{j: d(s_i, R_j) < r_j}
    - coverage  = mean over real j of 1[min_i d(R_j, s_i) < r_j]

    The comparisons are strict, as in the reference implementation
    (``clovaai/generative-evaluation-prdc``); with continuous features the difference from
    ``<=`` has probability zero.

    Parameters
    ----------
    real : array-like, shape (N, D)
    synthetic : array-like, shape (M, D)
    k : int
        Neighbour rank for the radii, in ``[1, min(N, M) - 1]``.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``density``, ``coverage`` as floats. Density can exceed 1.
    """
    real, synthetic = _check_pair(real, synthetic, min_real=2, min_synthetic=2)
    _check_k(k, len(synthetic), "synthetic")
    real_radii = knn_radii(real, k)
    synthetic_radii = knn_radii(synthetic, k)

    n_precise = 0  # synthetic samples inside some real ball
    n_in_balls = 0  # (synthetic sample, real ball) pairs with the sample inside the ball
    recalled = np.zeros(len(real), dtype=bool)  # real samples inside some synthetic ball
    nearest = np.full(len(real), np.inf)  # distance of each real sample to its nearest synthetic
    for rows, dist in _distance_blocks(synthetic, real):
        inside_real = dist < real_radii[None, :]
        n_precise += int(inside_real.any(axis=1).sum())
        n_in_balls += int(inside_real.sum())
        recalled |= (dist < synthetic_radii[rows, None]).any(axis=0)
        nearest = np.minimum(nearest, dist.min(axis=0))
    return {
        "precision": n_precise / len(synthetic),
        "recall": float(recalled.mean()),
        "density": n_in_balls / (k * len(synthetic)),
        "coverage": float((nearest < real_radii).mean()),
    }


def quality_metrics(
    real, synthetic, k: int = 5, lof_k: int = 20, progress: bool = False
) -> dict[str, float]:
    """All generation-quality metrics of one synthetic set against the real set.

    Parameters
    ----------
    real : array-like, shape (N, D)
        Evaluator features of the real training windows.
    synthetic : array-like, shape (M, D)
        Evaluator features of the synthetic windows.
    k : int
        Neighbours for AvgKNN, rarity and PRDC (``evaluate.k`` in the config).
    lof_k : int
        ``n_neighbors`` of the LOF.
    progress : bool
        Show a progress bar over the metrics.

    Returns
    -------
    dict
        ``fid``, ``avg_knn``, ``lof``, ``rarity``, ``precision``, ``recall``, ``density``,
        ``coverage`` (floats) and ``n_real``, ``n_synthetic``. ``rarity`` is the mean over the
        synthetic samples inside some real ball, which are the fraction ``precision`` (up to
        ties: rarity counts a sample on a ball's edge as inside, precision does not).
    """
    real, synthetic = _check_pair(real, synthetic, min_real=2, min_synthetic=2)
    # One step per metric; each returns a dict of named values.
    steps = [
        lambda: {"fid": fid(real, synthetic)},
        lambda: {"avg_knn": avg_knn(synthetic, real, k)},
        lambda: {"lof": mean_lof(synthetic, real, lof_k)},
        lambda: {"rarity": rarity_score(synthetic, real, k)[0]},
        lambda: prdc(real, synthetic, k),
    ]
    out: dict[str, float] = {}
    for compute in tqdm(steps, desc="quality metrics", disable=not progress):
        out.update(compute())
    out["n_real"] = len(real)
    out["n_synthetic"] = len(synthetic)
    return out
