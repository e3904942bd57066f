"""The one supervised trainer: ``fit``, then ``predict_logits`` and ``extract_features``."""

from sasgda.training.classifier import fit_task_classifier
from sasgda.training.trainer import extract_features, fit, predict_logits

__all__ = ["extract_features", "fit", "fit_task_classifier", "predict_logits"]
