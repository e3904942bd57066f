"""`train-classifier` and `train-downstream` over a run directory."""

import numpy as np

from sasgda.cli import main
from sasgda.utils.io import load_json, load_npz

FAST = ["--set", "classifier.train.epochs=2", "--set", "downstream.train.epochs=2", "--quiet"]


def test_train_classifier_writes_features_for_every_window(tmp_path):
    run = tmp_path / "r"
    assert main(["prepare", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--set", "data.sim_gestures=4", "--set", "data.sim_rep_seconds=2",
                 "--quiet"]) == 0
    assert main(["train-classifier", "--run-dir", str(run), *FAST]) == 0
    w = load_npz(run / "data" / "windows.npz")
    f = load_npz(run / "semantic" / "features.npz")
    assert f["features"].shape == (len(w["x"]), 128)
    np.testing.assert_array_equal(f["y"], w["y"])
    np.testing.assert_array_equal(f["split"], w["split"])
    assert (run / "classifier" / "model.safetensors").is_file()
    assert len((run / "classifier" / "metrics.jsonl").read_text().splitlines()) == 2

    assert main(["train-downstream", "--run-dir", str(run), "--backbone", "tdct",
                 "--augment", "none", *FAST]) == 0
    m = load_json(run / "downstream" / "tdct-none" / "metrics.json")
    assert {"accuracy", "macro_f1", "per_class_recall", "confusion", "train_seconds"} <= set(m)
    assert np.asarray(m["confusion"]).shape == (4, 4)
    assert np.asarray(m["confusion"]).sum() == int((w["split"] == "test").sum())
    assert m["best_epoch"] == 2  # no validation split by default: every epoch runs

    # With extra windows the model trains for downstream.augmented_epochs instead.
    assert main(["train-downstream", "--run-dir", str(run), "--backbone", "cnn",
                 "--augment", "jitter", *FAST, "--set", "downstream.augmented_epochs=1"]) == 0
    lines = (run / "downstream" / "cnn-jitter" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1


def test_train_classifier_needs_prepare(tmp_path, capsys):
    assert main(["train-classifier", "--run-dir", str(tmp_path / "empty"), "--quiet"]) == 2
    assert "run `sasgda prepare`" in capsys.readouterr().err


def test_short_training_on_real_myoup_is_well_above_chance(myoup, tmp_path):
    run = tmp_path / "myoup"
    assert main(["prepare", "--dataset", "myoup", "--data", str(myoup), "--subject", "1",
                 "--run-dir", str(run), "--quiet"]) == 0
    assert main(["train-classifier", "--run-dir", str(run), "--quiet",
                 "--set", "classifier.train.epochs=4"]) == 0
    accuracy = load_json(run / "classifier" / "metrics.json")["test_accuracy"]
    assert accuracy > 0.4  # chance is 1/22 = 0.045


def test_run_does_not_reuse_a_result_that_train_downstream_replaced(tmp_path):
    from sasgda.config import build_config
    from sasgda.pipeline import run_all
    from sasgda.utils.rundir import RunDir

    run = RunDir(tmp_path / "r")
    cfg = build_config(overrides=["data.sim_gestures=4", "data.sim_rep_seconds=2",
                                  "classifier.train.epochs=2", "downstream.train.epochs=1"])
    first = run_all(cfg, run, "cpu", None, "1", progress=False, methods=("none",))
    # The same result trained differently by hand, then `run` again with its own settings.
    assert main(["train-downstream", "--run-dir", str(run.root), "--augment", "none",
                 "--set", "downstream.train.epochs=3", "--quiet"]) == 0
    epochs = run.root / "downstream" / "cnn-none" / "metrics.jsonl"  # a line per epoch
    assert len(epochs.read_text().splitlines()) == 3
    again = run_all(cfg, run, "cpu", None, "1", progress=False, methods=("none",))
    assert len(epochs.read_text().splitlines()) == 1
    assert again == first
