"""The one supervised trainer: ``fit``, then ``predict_logits`` and ``extract_features``."""

from sasgda.training.trainer import accuracy, extract_features, fit, predict_logits

__all__ = ["accuracy", "extract_features", "fit", "predict_logits"]
