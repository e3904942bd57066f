"""Evaluation: downstream classification metrics, generation-quality metrics, statistics."""

from sasgda.evaluation.classification import classification_metrics, train_and_test
from sasgda.evaluation.quality import (
    avg_knn,
    feature_moments,
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
from sasgda.evaluation.stats import format_mean_sd, mean_sd, paired_wilcoxon

__all__ = [
    "avg_knn",
    "classification_metrics",
    "feature_moments",
    "fid",
    "format_mean_sd",
    "frechet_distance",
    "knn_radii",
    "lof_scores",
    "mean_lof",
    "mean_sd",
    "paired_wilcoxon",
    "prdc",
    "quality_metrics",
    "rarity_score",
    "rarity_scores",
    "train_and_test",
]
