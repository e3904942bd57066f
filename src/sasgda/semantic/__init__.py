"""Semantic condition sampling: GMSS (per-class Gaussians) and SASS (sparse-aware sampling)."""

from sasgda.semantic.gaussians import ClassGaussians
from sasgda.semantic.quota import fill_quota
from sasgda.semantic.sass import (
    SparseAwareSampler,
    gmss_conditions,
    head_confidence,
    knn_radii,
    rarity_scores,
    sass_potential,
)

__all__ = [
    "ClassGaussians",
    "SparseAwareSampler",
    "fill_quota",
    "gmss_conditions",
    "head_confidence",
    "knn_radii",
    "rarity_scores",
    "sass_potential",
]
