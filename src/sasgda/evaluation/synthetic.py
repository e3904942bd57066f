"""Generation quality of a synthetic set (design.md section 6), over arrays.

Windows are compared in the feature space of a fixed *evaluator* network, trained on the real
training windows. It is separate from the task-aware classifier (other seed, own weights) so that
the metrics do not reward windows for pleasing the very network that chose their conditions.
"""

from __future__ import annotations

import numpy as np
import torch

from sasgda.config import EvaluateConfig
from sasgda.evaluation.classification import train_and_test
from sasgda.evaluation.quality import quality_metrics

EVALUATOR_SEED_OFFSET = 10_007  # the evaluator is a different network from the classifier

Split = tuple[np.ndarray, np.ndarray]


def fit_evaluator(cfg: EvaluateConfig, train: Split, val: Split, n_classes: int, *, seed: int,
                  device: str | torch.device, progress: bool = True,
                  precision: str = "auto") -> torch.nn.Module:
    """The evaluator network of ``cfg.evaluator_backbone``, trained on the real windows with
    seed ``seed + EVALUATOR_SEED_OFFSET``."""
    from sasgda.models import build_classifier
    from sasgda.training import fit

    seed += EVALUATOR_SEED_OFFSET
    torch.manual_seed(seed)
    x_train = train[0]
    model = build_classifier(cfg.evaluator_backbone, n_chans=x_train.shape[1],
                             n_times=x_train.shape[2], n_classes=n_classes)
    fit(model, *train, *val, cfg.train, device=device, seed=seed, progress=progress,
        desc="evaluator", precision=precision)
    return model.eval()


def synthetic_quality(cfg: EvaluateConfig, evaluator: torch.nn.Module,
                      real_features: np.ndarray, synthetic: Split, val: Split, test: Split,
                      n_classes: int, *, seed: int, device: str | torch.device,
                      progress: bool = True, precision: str = "auto") -> dict[str, float]:
    """FID, AvgKNN, LOF, rarity and PRDC of the ``synthetic`` windows against the real ones,
    both in the evaluator's features (``real_features``: the real training windows', computed
    once for every set), and CAS: the test accuracy of a CNN trained on the synthetic windows
    only (model selection on the real ``val`` windows, as for every other classifier here)."""
    from sasgda.training import extract_features

    fake = extract_features(evaluator, synthetic[0], device=device)
    metrics = quality_metrics(real_features, fake, k=cfg.k)
    _, scores = train_and_test("cnn", synthetic, val, test, n_classes, cfg.train, seed=seed,
                               device=device, progress=progress, desc="CAS", precision=precision)
    return {**metrics, "cas": scores["accuracy"]}
