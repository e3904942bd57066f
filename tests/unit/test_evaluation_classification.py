"""classification_metrics against scikit-learn, with a class absent from the test set."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from sasgda.evaluation import classification_metrics


def test_hand_built_example():
    out = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], n_classes=2)
    assert out["accuracy"] == 0.75
    assert out["per_class_recall"] == [0.5, 1.0]
    assert out["confusion"] == [[1, 1], [0, 2]]
    # F1: class 0 = 2/3, class 1 = 0.8
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert out["n_samples"] == 4


def test_agrees_with_scikit_learn_when_a_class_is_absent():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)  # class 4 never occurs
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 5, 200))
    out = classification_metrics(y_true, y_pred, n_classes=5)
    labels = list(range(5))
    assert out["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert out["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )
    np.testing.assert_allclose(
        out["per_class_recall"],
        recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0),
    )
    assert out["per_class_recall"][4] == 0.0
    assert np.array_equal(out["confusion"], confusion_matrix(y_true, y_pred, labels=labels))
    assert np.shape(out["confusion"]) == (5, 5)


def test_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"valid range is \[0, 2\]"):
        classification_metrics([0, 3], [0, 1], n_classes=3)
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0, 1], [0], n_classes=3)
