"""Semantic condition sampling: GMSS (per-class Gaussians) and SASS (sparse-aware sampling)."""

from sasgda.semantic.gaussians import ClassGaussians
from sasgda.semantic.quota import fill_quota
from sasgda.semantic.sass import (
    SparseAwareSampler,
    head_confidence,
    knn_radii,
    rarity_scores,
    sass_potential,
)
from sasgda.semantic.synthesis import STRATEGIES, Synthesizer, class_quota, condition_of

__all__ = [
    "STRATEGIES",
    "Synthesizer",
    "class_quota",
    "condition_of",
    "ClassGaussians",
    "SparseAwareSampler",
    "fill_quota",
    "head_confidence",
    "knn_radii",
    "rarity_scores",
    "sass_potential",
]
