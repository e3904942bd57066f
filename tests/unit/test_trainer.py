"""The supervised trainer: it learns, it is deterministic, it stops early, it restores the best."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from sasgda.config import TrainerConfig
from sasgda.models import TaskAwareCNN
from sasgda.training import extract_features, fit, predict_logits
from sasgda.training.trainer import _lr_factor


def accuracy(logits, y):
    return float(np.mean(logits.argmax(1) == y))

torch.set_num_threads(1)

N_CHANS, N_TIMES, N_CLASSES = 4, 16, 3


def _separable(n, seed):
    """Windows whose class is the channel with the largest amplitude: an easy, exact task."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n)
    x = rng.normal(size=(n, N_CHANS, N_TIMES)).astype(np.float32)
    x[np.arange(n), y] *= 4.0
    return x, y.astype(np.int64)


def _model(seed=0):
    torch.manual_seed(seed)
    return TaskAwareCNN(n_chans=N_CHANS, n_times=N_TIMES, n_classes=N_CLASSES, feat_dim=16, width=8)


class ConstantLogits(nn.Module):
    """Logits that never change however the weight moves: validation never improves."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.register_buffer("logits", torch.tensor([2.0, 0.0, -1.0]))

    def forward(self, x):
        return self.logits.expand(len(x), -1) + 0.0 * self.weight


def test_fit_learns_a_separable_task(tmp_path):
    x, y = _separable(300, seed=0)
    x_test, y_test = _separable(200, seed=1)
    model = _model()
    cfg = TrainerConfig(epochs=8, batch_size=32, lr=3e-3, patience=0)
    history = fit(
        model,
        x[:240],
        y[:240],
        x[240:],
        y[240:],
        cfg,
        device="cpu",
        seed=0,
        progress=False,
        metrics_path=tmp_path / "m.jsonl",
    )
    assert accuracy(predict_logits(model, x_test, device="cpu"), y_test) > 0.9
    assert not model.training
    assert history["epochs_run"] == 8 and not history["stopped_early"]

    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == list(range(1, 9))
    assert set(lines[0]) == {
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    }
    # The best checkpoint is restored: the returned model scores the best validation accuracy.
    best = max(r["val_acc"] for r in lines)
    assert history["best_val_acc"] == best
    assert lines[history["best_epoch"] - 1]["val_acc"] == best
    val_acc = accuracy(predict_logits(model, x[240:], device="cpu"), y[240:])
    assert val_acc == pytest.approx(best)


def test_same_seed_gives_identical_weights():
    x, y = _separable(100, seed=0)
    cfg = TrainerConfig(epochs=2, batch_size=16)

    def train(seed):
        model = _model(seed=0)
        fit(model, x[:80], y[:80], x[80:], y[80:], cfg, device="cpu", seed=seed, progress=False)
        return model.state_dict()

    a, b, c = train(0), train(0), train(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # A different seed shuffles (and drops out) differently.
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fit_leaves_the_global_random_state_alone():
    x, y = _separable(40, seed=0)
    model = _model()
    state = torch.get_rng_state()
    fit(
        model,
        x,
        y,
        None,
        None,
        TrainerConfig(epochs=1, batch_size=16),
        device="cpu",
        seed=5,
        progress=False,
    )
    assert torch.equal(torch.get_rng_state(), state)


def test_early_stopping_stops_after_patience_epochs():
    x, y = _separable(64, seed=0)
    cfg = TrainerConfig(epochs=50, batch_size=32, patience=3)
    history = fit(
        ConstantLogits(), x[:48], y[:48], x[48:], y[48:], cfg, device="cpu", seed=0, progress=False
    )
    # Epoch 1 is the best; epochs 2, 3, 4 bring nothing, so training stops after epoch 4.
    assert history["best_epoch"] == 1
    assert history["epochs_run"] == 4
    assert history["stopped_early"]


def test_without_validation_data_trains_all_epochs():
    x, y = _separable(64, seed=0)
    empty_x = np.zeros((0, N_CHANS, N_TIMES), np.float32)
    history = fit(
        _model(),
        x,
        y,
        empty_x,
        np.zeros(0, np.int64),
        TrainerConfig(epochs=3, patience=1),
        device="cpu",
        seed=0,
        progress=False,
    )
    assert history["epochs_run"] == 3
    assert history["best_epoch"] == 3
    assert history["best_val_acc"] is None


def test_a_last_batch_of_one_window_is_folded_away():
    # 33 windows in batches of 32 would leave a batch of one, which BatchNorm cannot train on.
    x, y = _separable(33, seed=0)
    model = _model()
    sizes = []
    model.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0]))
                                    if module.training else None)
    fit(
        model,
        x,
        y,
        None,
        None,
        TrainerConfig(epochs=1, batch_size=32),
        device="cpu",
        seed=0,
        progress=False,
    )
    assert sum(sizes) == 33 and min(sizes) > 1  # every window trained on, no batch of one


def test_predict_and_features_shapes_and_mode():
    x, _ = _separable(10, seed=0)
    model = _model().train()
    logits = predict_logits(model, x, device="cpu", batch_size=4)
    features = extract_features(model, x, device="cpu", batch_size=4)
    assert logits.shape == (10, N_CLASSES) and logits.dtype == np.float32
    assert features.shape == (10, 16) and features.dtype == np.float32
    assert model.training  # the caller's mode is restored
    # Batching does not change the result (eval mode: BatchNorm uses running statistics).
    np.testing.assert_allclose(
        predict_logits(model, x, device="cpu", batch_size=10), logits, rtol=1e-5, atol=1e-6
    )
    # No windows: empty outputs of the right width, not an error.
    assert predict_logits(model, x[:0], device="cpu").shape == (0, N_CLASSES)
    assert extract_features(model, x[:0], device="cpu").shape == (0, 16)
    with pytest.raises(ValueError, match="encode"):
        extract_features(ConstantLogits(), x, device="cpu")


def test_learning_rate_warms_up_then_decays_to_zero():
    factors = [_lr_factor(step, warmup_steps=10, total_steps=100) for step in range(100)]
    assert factors[0] == pytest.approx(0.1)
    assert factors[9] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(factors[10:], factors[11:], strict=False))
    assert _lr_factor(100, 10, 100) == pytest.approx(0.0)


def test_onecycle_schedule_learns_and_ends_near_zero(tmp_path):
    x, y = _separable(256, seed=0)
    model = _model()
    metrics = tmp_path / "metrics.jsonl"
    cfg = TrainerConfig(epochs=8, batch_size=32, lr=1.5e-3, schedule="onecycle")
    fit(model, x, y, None, None, cfg,
        device="cpu", seed=0, progress=False, metrics_path=metrics)
    lrs = [json.loads(line)["lr"] for line in metrics.read_text().splitlines()]
    assert max(lrs) <= 3e-3 and lrs[-1] < 0.05 * max(lrs)  # peaks at max_lr_factor x lr, anneals
    x_test, y_test = _separable(256, seed=1)
    assert accuracy(predict_logits(model, x_test, device="cpu"), y_test) > 0.9


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(schedule="step"), "schedule='step'"),
        (dict(epochs=0), "epochs"),
        (dict(lr=0.0), "lr"),
        (dict(label_smoothing=1.0), "label_smoothing"),
    ],
)
def test_invalid_config_is_an_error(change, match):
    x, y = _separable(8, seed=0)
    with pytest.raises(ValueError, match=match):
        fit(
            _model(),
            x,
            y,
            None,
            None,
            TrainerConfig(**change),
            device="cpu",
            seed=0,
            progress=False,
        )


def test_mismatched_labels_are_an_error():
    x, y = _separable(8, seed=0)
    with pytest.raises(ValueError, match="labels"):
        fit(
            _model(),
            x,
            y[:5],
            None,
            None,
            TrainerConfig(epochs=1),
            device="cpu",
            seed=0,
            progress=False,
        )
