"""SASS, sparse-aware semantic sampling (SASG-DA, design.md section 5), and GMSS conditions.

For class k with real features R_k (standardised) and a quota of m conditions, SASS

1. draws m candidates between real features, sparse regions first (``candidates =
   "neighbours"``, the default): an anchor R_j with probability proportional to its k-NN radius
   r_j (its distance to its k-th nearest real neighbour of the same class), one of its k
   nearest neighbours R_n at random, and c = R_j + u (R_n - R_j), u ~ U(0, 1). Each lies inside
   R_j's ball, so on the real manifold (on MyoUP subject 3, 25-42 % of GMSS draws lie inside no
   real ball). With ``candidates = "gaussian"`` (the former default) it instead draws
   ``oversample * m`` GMSS candidates from N(mu_k, Sigma_k), scores their rarity (Han et al.,
   ICLR 2023: rarity(c) = min{r_j : ||c - R_j|| <= r_j}, undefined off every ball), drops the
   off-manifold ones and keeps the m rarest;
2. refines them by gradient descent on the potential
   U(C) = - lambda_s sum_i mean_{j in kNN(c_i)} ||c_i - R_j||          (sparsity)
          + lambda_d sum_{i != i'} exp(-||c_i - c_i'||^2 / (2 h^2))     (diversity)
          + lambda_f sum_i relu(maha_k(c_i)^2 - chi2_D(q))               (fidelity);
3. keeps the conditions the task-aware classifier's head gives p(k | c) >= ``confidence``
   (the pipeline then also drops generated windows the classifier gives less than that).

Measured on MyoUP subjects 3 and 5 (seed 0, bench/results/reference-gap.md): the Gaussian
candidates gave 75.5 / 78.4 % downstream against GMSS's 76.7 / 78.0; the neighbour candidates
76.2 / 80.2 %, with windows closer to the real amplitude (RMS 0.87 of real against 0.79).

The paper gives these steps but not their exact formulas; design.md fixes the ones above.
Choices made here, beyond design.md:

- Everything runs in the standardised feature space (z-score with the mean and standard
  deviation of all real features; a dimension with zero spread is left unscaled), as design.md
  says. The refinement additionally measures lengths in units of ``r_bar_k``, the median k-NN
  radius of class k, so that the step ``epsilon`` and the bandwidth ``h`` are fractions of the
  class's typical neighbour spacing. That makes them mean the same for any feature dimension
  D and any feature scale; in raw standardised units a fixed h = 1 is far below the typical
  distance between 128-D features and the diversity term would vanish. The Mahalanobis term is
  invariant to this change of coordinates.
- Each step moves every condition by exactly ``epsilon`` (in ``r_bar_k`` units) along its own
  normalised negative gradient, c_i <- c_i - epsilon * g_i / ||g_i||: the step length does not
  depend on m, D, or on how steep the fidelity wall is, and ``iters * epsilon`` bounds how far
  a condition can travel.
- The kNN set of the sparsity term is recomputed at every step (cheap: m x N_k distances).
- A refined condition may leave every real ball; its recorded rarity is then ``nan``, the same
  convention as the evaluation package's Rarity Score ("off the manifold, undefined").
- When fewer than m candidates lie on the manifold, all of them are kept; together with the
  confidence filter this means ``sample`` can return fewer than m conditions, and the caller's
  redraw loop (:func:`sasgda.semantic.quota.fill_quota`) tops the quota up.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import chi2
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.neighbors import NearestNeighbors

from sasgda.config import ConditionsConfig, check_config
from sasgda.semantic.gaussians import ClassGaussians

Head = Callable[[torch.Tensor], torch.Tensor]
SASS_CANDIDATES = ("gaussian", "neighbours")

# Largest candidate x real distance block held in memory at once (float64 entries, 128 MiB).
_BLOCK_ELEMENTS = 2**24


def knn_radii(features, k: int = 5) -> np.ndarray:
    """Distance of every feature to its k-th nearest neighbour in the same set, self excluded.

    Parameters
    ----------
    features : array-like, shape (N, D)
    k : int
        Neighbour rank, in ``[1, N - 1]``.

    Returns
    -------
    ndarray, shape (N,), float64
    """
    features = np.asarray(features, dtype=np.float64)
    if not 1 <= k <= len(features) - 1:
        raise ValueError(
            f"k must be in [1, {len(features) - 1}] for {len(features)} features, got {k}"
        )
    # The nearest neighbour of a point in its own set is itself, hence k + 1.
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    return distances[:, k]


def _rarity_from_radii(synthetic: np.ndarray, real: np.ndarray, radii: np.ndarray) -> np.ndarray:
    scores = np.empty(len(synthetic))
    block = max(1, _BLOCK_ELEMENTS // max(len(real), 1))
    for start in range(0, len(synthetic), block):
        dist = euclidean_distances(synthetic[start : start + block], real)
        # Smallest radius among the balls that contain the sample; inf when there is none.
        containing = np.where(dist <= radii[None, :], radii[None, :], np.inf)
        scores[start : start + block] = containing.min(axis=1)
    scores[np.isinf(scores)] = np.nan
    return scores


def rarity_scores(synthetic, real, k: int = 5) -> np.ndarray:
    """Rarity Score of each synthetic feature (Han et al., ICLR 2023).

    Each real feature ``R_j`` owns a ball of radius ``r_j``, its distance to its k-th nearest
    real neighbour. A synthetic feature inside at least one ball has rarity ``min r_j`` over
    the balls that contain it: small in dense regions of the real data, large in sparse ones.

    Parameters
    ----------
    synthetic : array-like, shape (M, D)
    real : array-like, shape (N, D)
    k : int
        Neighbour rank for the radii, in ``[1, N - 1]``.

    Returns
    -------
    ndarray, shape (M,), float64
        Rarity per synthetic feature; ``nan`` where it lies inside no ball (off the manifold).
    """
    real = np.asarray(real, dtype=np.float64)
    synthetic = np.asarray(synthetic, dtype=np.float64).reshape(-1, real.shape[1])
    return _rarity_from_radii(synthetic, real, knn_radii(real, k))


def head_confidence(
    head: Head, features, label: int, device: str | torch.device = "cpu", batch_size: int = 4096
) -> np.ndarray:
    """Probability ``softmax(head(f))[label]`` the classifier head gives each feature.

    Parameters
    ----------
    head : callable
        Maps a float32 tensor (B, D) to logits (B, K); put a module in ``eval()`` mode first.
    features : array-like, shape (M, D)
    label : int
        Column of the logits, in ``[0, K - 1]``.
    device : str or torch.device
        Where ``head`` lives.
    batch_size : int

    Returns
    -------
    ndarray, shape (M,), float32
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    probs = [np.zeros(0, dtype=np.float32)]
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            logits = head(torch.from_numpy(features[start : start + batch_size]).to(device))
            if logits.ndim != 2 or not 0 <= label < logits.shape[1]:
                raise ValueError(
                    f"label {label} is not a column of the head's logits of shape "
                    f"{tuple(logits.shape)}"
                )
            probs.append(torch.softmax(logits.float(), dim=1)[:, label].cpu().numpy())
    return np.concatenate(probs)


def sass_potential(
    cond: torch.Tensor,
    real: torch.Tensor,
    mean: torch.Tensor,
    precision: torch.Tensor,
    threshold: float,
    k: int,
    lambda_s: float,
    lambda_d: float,
    lambda_f: float,
    bandwidth: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The SASS potential U(C) (design.md section 5, step 3) and its three terms.

    All inputs share one coordinate system (the sampler's working space).

    Parameters
    ----------
    cond : Tensor, shape (m, D)
        Conditions c_i being refined.
    real : Tensor, shape (N, D)
        Real features R_j of the class.
    mean, precision : Tensor, shapes (D,) and (D, D)
        The class Gaussian in the same coordinates.
    threshold : float
        chi2_D(q): squared Mahalanobis radius beyond which the fidelity term acts.
    k : int
        Neighbours of the sparsity term, in ``[1, N]``.
    lambda_s, lambda_d, lambda_f : float
        Term weights.
    bandwidth : float
        h of the diversity kernel.

    Returns
    -------
    energy : Tensor, scalar
    terms : dict
        Unweighted ``sparsity``, ``diversity`` and ``fidelity`` values (floats).
    """
    # Sparsity: mean distance to the k nearest real features. The neighbour set is found
    # without gradient and recomputed at every call; the distances to it carry the gradient.
    with torch.no_grad():
        nearest = torch.cdist(cond, real).topk(k, dim=1, largest=False).indices
    diff = cond[:, None, :] - real[nearest]
    knn_distance = torch.sqrt((diff**2).sum(-1) + 1e-12).mean(dim=1)
    sparsity = -knn_distance.sum()

    # Diversity: Gaussian kernel between distinct conditions. Centring first limits the
    # cancellation in ||a||^2 + ||b||^2 - 2 a.b.
    centred = cond - cond.mean(dim=0, keepdim=True)
    sq_norm = (centred**2).sum(dim=1)
    sq_dist = (sq_norm[:, None] + sq_norm[None, :] - 2 * centred @ centred.T).clamp_min(0)
    off_diagonal = 1.0 - torch.eye(len(cond), dtype=cond.dtype, device=cond.device)
    diversity = (torch.exp(-sq_dist / (2 * bandwidth**2)) * off_diagonal).sum()

    # Fidelity: penalise leaving the class's q-quantile Mahalanobis ellipsoid.
    offset = cond - mean
    maha_sq = ((offset @ precision) * offset).sum(dim=1)
    fidelity = torch.relu(maha_sq - threshold).sum()

    energy = lambda_s * sparsity + lambda_d * diversity + lambda_f * fidelity
    terms = {
        "sparsity": float(sparsity.detach()),
        "diversity": float(diversity.detach()),
        "fidelity": float(fidelity.detach()),
    }
    return energy, terms


class SparseAwareSampler:
    """SASS conditions for one class at a time (design.md section 5).

    Parameters
    ----------
    gaussians : ClassGaussians
        Fitted on ``features`` / ``labels``.
    features : array-like, shape (N, D)
        Real training features (the task-aware classifier's penultimate layer).
    labels : array-like, shape (N,)
    head : callable
        The classifier head, float32 tensor (B, D) -> logits (B, K), in eval mode.
    cfg : ConditionsConfig, optional
        Default ``ConditionsConfig()``. Uses ``oversample``, ``k``, ``iters``, ``epsilon``,
        ``lambda_s``, ``lambda_d``, ``lambda_f``, ``bandwidth``, ``chi2_quantile``,
        ``confidence`` and ``gmss_scale`` (for the candidates of step 1, which are GMSS draws).
    device : str or torch.device
        Where ``head`` lives; the refinement runs there too.

    Attributes
    ----------
    mean_, scale_ : ndarray, shape (D,)
        Standardisation of the feature space: z = (f - mean_) / scale_.
    """

    def __init__(
        self,
        gaussians: ClassGaussians,
        features,
        labels,
        head: Head,
        cfg: ConditionsConfig | None = None,
        device: str | torch.device = "cpu",
    ):
        cfg = ConditionsConfig() if cfg is None else cfg
        check_config(cfg, "conditions")
        if cfg.candidates not in SASS_CANDIDATES:
            raise ValueError(f"conditions.candidates={cfg.candidates!r}: expected one of "
                             f"{', '.join(SASS_CANDIDATES)}")
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        if features.ndim != 2 or features.shape[1] != gaussians.means_.shape[1]:
            raise ValueError(
                f"features must have shape (N, {gaussians.means_.shape[1]}) like the fitted "
                f"Gaussians, got {features.shape}"
            )
        if labels.shape != (len(features),):
            raise ValueError(f"labels must have shape ({len(features)},), got {labels.shape}")
        self.gaussians = gaussians
        self.features = features
        self.labels = labels
        self.head = head
        self.cfg = cfg
        self.device = torch.device(device)
        self.mean_ = features.mean(axis=0)
        std = features.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self._states: dict[int, dict] = {}

    # --- per-class state ---------------------------------------------------------------------

    def _state(self, label: int) -> dict:
        """Standardised real features, k-NN radii and working-space Gaussian of class ``label``."""
        label = int(label)
        if label in self._states:
            return self._states[label]
        index = self.gaussians._index(label)
        real = (self.features[self.labels == label] - self.mean_) / self.scale_
        if len(real) < 2:
            raise ValueError(
                f"SASS needs at least 2 real features of class {label} for its k-NN balls, "
                f"got {len(real)}"
            )
        k = self.cfg.k
        if k > len(real) - 1:
            warnings.warn(
                f"class {label} has {len(real)} real features: using k = {len(real) - 1} "
                f"instead of conditions.k = {k}",
                stacklevel=3,
            )
            k = len(real) - 1
        radii = knn_radii(real, k)
        # r_bar_k, the length unit of the refinement; duplicates can make it 0.
        unit = float(np.median(radii))
        unit = unit if unit > 0 else 1.0
        # The class Gaussian in working coordinates u = z / unit = (f - mean_) / (scale_ * unit).
        scale = self.scale_ * unit
        mean_u = (self.gaussians.means_[index] - self.mean_) / scale
        precision_u = self.gaussians.precisions_[index] * scale[:, None] * scale[None, :]
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=self.device)  # noqa: E731
        state = {
            "k": k,
            "real": real,
            "radii": radii,
            "unit": unit,
            "real_u": as_tensor(real / unit),
            "mean_u": as_tensor(mean_u),
            "precision_u": as_tensor(precision_u),
            "threshold": float(chi2.ppf(self.cfg.chi2_quantile, real.shape[1])),
        }
        self._states[label] = state
        return state

    def standardise(self, features) -> np.ndarray:
        """Features (M, D) in the standardised space, float64."""
        return (np.asarray(features, dtype=np.float64) - self.mean_) / self.scale_

    def median_radius(self, label: int) -> float:
        """r_bar_k: the median k-NN radius of class ``label`` in the standardised space."""
        return self._state(label)["unit"]

    # --- the steps ---------------------------------------------------------------------------

    def rarity(self, cond, label: int) -> np.ndarray:
        """Rarity Score (standardised space) of conditions (M, D) against class ``label``.

        Returns
        -------
        ndarray, shape (M,), float32
            ``nan`` for a condition inside no real k-NN ball.
        """
        state = self._state(label)
        scores = _rarity_from_radii(self.standardise(cond), state["real"], state["radii"])
        return scores.astype(np.float32)

    def refine(self, cond, label: int) -> np.ndarray:
        """Step 3: ``iters`` normalised gradient steps on the SASS potential.

        Parameters
        ----------
        cond : array-like, shape (m, D)
            Conditions in the original feature space.
        label : int

        Returns
        -------
        ndarray, shape (m, D), float32
            Refined conditions in the original feature space.
        """
        cfg = self.cfg
        state = self._state(label)
        cond = np.asarray(cond, dtype=np.float64).reshape(-1, len(self.mean_))
        if len(cond) == 0 or cfg.iters == 0:
            return cond.astype(np.float32)
        u = torch.as_tensor(
            self.standardise(cond) / state["unit"], dtype=torch.float32, device=self.device
        )
        for _ in range(cfg.iters):
            u.requires_grad_(True)
            energy, _ = sass_potential(
                u,
                state["real_u"],
                state["mean_u"],
                state["precision_u"],
                state["threshold"],
                k=state["k"],
                lambda_s=cfg.lambda_s,
                lambda_d=cfg.lambda_d,
                lambda_f=cfg.lambda_f,
                bandwidth=cfg.bandwidth,
            )
            (grad,) = torch.autograd.grad(energy, u)
            # Every condition moves by exactly epsilon (r_bar_k units) along its own descent
            # direction; a condition with zero gradient stays.
            direction = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            u = (u - cfg.epsilon * direction).detach()
        refined = u.double().cpu().numpy() * state["unit"] * self.scale_ + self.mean_
        return refined.astype(np.float32)

    def neighbour_candidates(self, label: int, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` conditions between real features, sparse regions first (``candidates =
        neighbours``): an anchor R_j drawn with probability proportional to its k-NN radius
        r_j, one of its k nearest same-class neighbours R_n at random, and a point u ~ U(0, 1)
        of the way from R_j to R_n. Each lies inside R_j's ball, so on the manifold.

        Returns
        -------
        ndarray, shape (m, D), float32, in the original feature space.
        """
        state = self._state(label)
        real, radii, k = state["real"], state["radii"], state["k"]
        if "neighbours" not in state:
            state["neighbours"] = (NearestNeighbors(n_neighbors=k + 1).fit(real)
                                   .kneighbors(real, return_distance=False)[:, 1:])
        total = radii.sum()
        weights = radii / total if total > 0 else None  # all radii 0: duplicates, draw evenly
        anchors = rng.choice(len(real), size=m, p=weights)
        partners = state["neighbours"][anchors, rng.integers(0, k, size=m)]
        u = rng.random((m, 1))
        z = real[anchors] + u * (real[partners] - real[anchors])
        return (z * self.scale_ + self.mean_).astype(np.float32)

    def confidence(self, cond, label: int) -> np.ndarray:
        """p(label | c) from the classifier head, shape (M,), float32."""
        return head_confidence(self.head, cond, int(label), device=self.device)

    def sample(self, label: int, m: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """SASS: up to ``m`` conditions for class ``label``.

        Parameters
        ----------
        label : int
        m : int
            Quota of conditions, >= 0.
        rng : numpy.random.Generator
            The only source of randomness (the GMSS candidates).

        Returns
        -------
        dict
            ``cond`` (m', D) float32 in the original feature space, ``rarity`` (m',) float32
            (recomputed after refinement; ``nan`` off the manifold) and ``confidence`` (m',)
            float32, with m' <= m (off-manifold candidates and the confidence filter remove some).
        """
        cfg = self.cfg
        if m < 0:
            raise ValueError(f"m must be >= 0, got {m}")
        if cfg.candidates == "neighbours":
            cond = self.refine(self.neighbour_candidates(label, m, rng), label)
        else:
            # 1. Oversampled GMSS candidates.
            candidates = self.gaussians.sample(cfg.oversample * m, label, rng,
                                               scale=cfg.gmss_scale)
            # 2. Rarity; drop off-manifold candidates, keep the m rarest.
            rarity = self.rarity(candidates, label)
            on_manifold = np.flatnonzero(~np.isnan(rarity))
            rarest = on_manifold[np.argsort(-rarity[on_manifold], kind="stable")[:m]]
            # 3. Refinement on the sparsity / diversity / fidelity potential.
            cond = self.refine(candidates[rarest], label)
        # 4. Confidence filter.
        probs = self.confidence(cond, label)
        keep = probs >= cfg.confidence
        cond = cond[keep]
        return {"cond": cond, "rarity": self.rarity(cond, label), "confidence": probs[keep]}
