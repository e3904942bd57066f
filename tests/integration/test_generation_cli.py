"""The generative stages over a tiny simulated run: train-generator (and its resume), generate
with every strategy, evaluate, and augmented downstream training."""

import json
import shutil

import numpy as np
import pytest

from sasgda.cli import main
from sasgda.utils.io import load_json, load_npz

TINY = [
    "--set", "data.sim_gestures=3", "--set", "data.sim_rep_seconds=1.5",
    "--set", "classifier.train.epochs=10", "--set", "downstream.train.epochs=1",
    "--set", "downstream.augmented_epochs=1", "--set", "evaluate.train.epochs=1",
    "--set", "generator.base_channels=8", "--set", "generator.channel_mults=[1,2]",
    "--set", "generator.n_heads=2", "--set", "generator.steps=4",
    "--set", "generator.checkpoint_every=2", "--set", "generator.batch_size=16",
    "--set", "sampler.steps=3", "--set", "sampler.ratio=0.2",
    "--set", "conditions.max_rounds=2", "--set", "conditions.confidence=0.05", "--quiet",
]


# Each stage's run folder is built once per module by a fixture, and a test that changes a run
# works on its own copy: every test also runs alone, in any order.


def copy_of(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Windows and the task-aware classifier."""
    run = tmp_path_factory.mktemp("gen") / "run"
    assert main(["prepare", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 *TINY]) == 0
    assert main(["train-classifier", "--run-dir", str(run), *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    """``prepared`` plus the semantic and the label generator."""
    run = copy_of(prepared, tmp_path_factory.mktemp("trained"))
    for condition in ("semantic", "label"):
        assert main(["train-generator", "--run-dir", str(run), "--condition", condition,
                     *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def generated(trained, tmp_path_factory):
    """``trained`` plus a synthetic set of every strategy."""
    run = copy_of(trained, tmp_path_factory.mktemp("generated"))
    for strategy in ("real", "label", "gmss", "sass"):
        assert main(["generate", "--run-dir", str(run), "--strategy", strategy, *TINY]) == 0
    return run


@pytest.fixture(scope="module")
def evaluated(generated, tmp_path_factory):
    """``generated`` plus quality metrics, augmented downstream models and the report."""
    run = copy_of(generated, tmp_path_factory.mktemp("evaluated"))
    assert main(["evaluate", "--run-dir", str(run), "--strategies", "gmss", "label", *TINY]) == 0
    for augment in ("gmss", "jitter"):
        assert main(["train-downstream", "--run-dir", str(run), "--augment", augment,
                     *TINY]) == 0
    assert main(["report", "--run-dir", str(run), "--quiet"]) == 0
    return run


def test_train_generator_resumes_from_its_checkpoint(prepared, tmp_path):
    run = copy_of(prepared, tmp_path)
    assert main(["train-generator", "--run-dir", str(run), *TINY]) == 0
    steps = [json.loads(line)["step"] for line in
             (run / "generator" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 4
    # Asking for more steps continues from step 4 instead of starting again.
    assert main(["train-generator", "--run-dir", str(run), *TINY,
                 "--set", "generator.steps=6"]) == 0
    steps = [json.loads(line)["step"] for line in
             (run / "generator" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 6 and steps.count(4) == 1


@pytest.mark.parametrize("strategy", ["real", "label", "gmss", "sass"])
def test_generate_every_strategy(generated, strategy):
    run = generated
    syn = load_npz(run / "synthetic" / f"{strategy}.npz")
    w = load_npz(run / "data" / "windows.npz")
    assert syn["x"].shape[1:] == w["x"].shape[1:] and syn["x"].dtype == np.float32
    assert {"y", "cond", "rarity", "confidence", "strategy"} <= set(syn)
    assert str(syn["strategy"]) == strategy
    n_train = int((w["split"] == "train").sum())
    if strategy != "sass":  # SASS may fall short of its quota after max_rounds (it warns)
        assert len(syn["x"]) == round(0.2 * n_train)
    counts = np.bincount(syn["y"], minlength=3)
    assert counts.max() - counts.min() <= 1 or strategy == "sass"  # balanced per class
    if strategy == "sass":
        assert np.all(syn["confidence"] >= 0.05)


def test_sass_that_accepts_nothing_says_so(trained, tmp_path, capsys):
    run = copy_of(trained, tmp_path)
    assert main(["generate", "--run-dir", str(run), "--strategy", "sass", *TINY,
                 "--set", "conditions.confidence=1.0"]) == 2
    assert "no generated window of any class reached confidence 1" in capsys.readouterr().err


def test_unbalanced_generation_follows_the_real_class_proportions(trained, tmp_path):
    from sasgda.semantic import class_quota

    y = np.array([0] * 6 + [1] * 3 + [2])
    assert class_quota(y, 3, 10, balanced=True).tolist() == [4, 3, 3]
    assert class_quota(y, 3, 10, balanced=False).tolist() == [6, 3, 1]
    assert class_quota(y, 3, 5, balanced=False).tolist() == [3, 2, 0]
    copy = copy_of(trained, tmp_path)
    assert main(["generate", "--run-dir", str(copy), "--strategy", "real", *TINY,
                 "--set", "sampler.balanced=false"]) == 0
    w = load_npz(copy / "data" / "windows.npz")
    y_train = w["y"][w["split"] == "train"]
    counts = np.bincount(load_npz(copy / "synthetic" / "real.npz")["y"], minlength=3)
    n = round(0.2 * len(y_train))
    assert counts.tolist() == class_quota(y_train, 3, n, balanced=False).tolist()


def test_guidance_needs_a_generator_trained_with_condition_dropout(prepared, tmp_path, capsys):
    # Refused up front, before anything trains: the settings contradict each other.
    copy = copy_of(prepared, tmp_path)
    no_dropout = [*TINY, "--set", "generator.cond_dropout=0"]
    for command in (["train-generator"], ["generate", "--strategy", "real"]):
        assert main([*command, "--run-dir", str(copy), *no_dropout,
                     "--set", "sampler.guidance_scale=2"]) == 2
        assert "trained with generator.cond_dropout=0, so its null condition" in \
            capsys.readouterr().err
    assert not (copy / "generator").exists()


def test_generate_refuses_a_generator_trained_with_another_parameterization(trained, tmp_path,
                                                                            capsys):
    run = copy_of(trained, tmp_path)
    # The generator was trained with the default "direct"; sampling it as "skip" would give
    # garbage windows without any error.
    config_before = (run / "config.yaml").read_text()
    assert main(["generate", "--run-dir", str(run), "--strategy", "real", *TINY,
                 "--set", "generator.parameterization=skip"]) == 2
    assert "trained with another generator config" in capsys.readouterr().err
    # The failed command leaves the run's config as it was, so the next command is not poisoned.
    assert (run / "config.yaml").read_text() == config_before


def test_a_zero_ratio_is_refused_and_not_remembered(generated, tmp_path, capsys):
    run = copy_of(generated, tmp_path)
    config_before = (run / "config.yaml").read_text()
    gmss_before = (run / "synthetic" / "gmss.npz").read_bytes()
    assert main(["generate", "--run-dir", str(run), "--strategy", "gmss", *TINY,
                 "--ratio", "0"]) == 2
    assert "sampler.ratio=0.0: expected > 0" in capsys.readouterr().err
    assert main(["train-downstream", "--run-dir", str(run), "--augment", "gmss", *TINY,
                 "--ratio", "0"]) == 2
    assert "downstream.synthetic_ratio=0.0" in capsys.readouterr().err
    assert (run / "synthetic" / "gmss.npz").read_bytes() == gmss_before
    assert (run / "config.yaml").read_text() == config_before


def test_same_seed_gives_identical_synthetic_sets(trained, tmp_path):
    run = copy_of(trained, tmp_path)
    outs = []
    for _ in range(2):
        assert main(["generate", "--run-dir", str(run), "--strategy", "sass", *TINY]) == 0
        outs.append((run / "synthetic" / "sass.npz").read_bytes())
    assert outs[0] == outs[1]


def test_evaluate_and_augmented_downstream(evaluated):
    run = evaluated
    metrics = load_json(run / "metrics.json")
    for strategy in ("gmss", "label"):
        assert {"fid", "cas", "avg_knn", "lof", "rarity", "precision", "recall", "density",
                "coverage"} <= set(metrics[strategy])
    for augment in ("gmss", "jitter"):
        m = load_json(run / "downstream" / f"cnn-{augment}" / "metrics.json")
        assert m["n_train_extra"] == round(2.0 * m["n_train_real"])
    report = (run / "report.md").read_text()
    assert "| cnn | gmss |" in report and "| gmss |" in report.split("Generation quality")[1]
    assert (run / "plots" / "embedding.png").stat().st_size > 0
    assert (run / "plots" / "waveforms-sass.png").stat().st_size > 0


def test_evaluate_checks_its_strategies_before_training_the_evaluator(generated, tmp_path,
                                                                       capsys):
    run = copy_of(generated, tmp_path)
    evaluator = run / "evaluator"
    before = evaluator.stat().st_mtime_ns if evaluator.exists() else None
    assert main(["evaluate", "--run-dir", str(run), "--strategies", "gmss", "bogus",
                 *TINY]) == 2
    assert "--strategies bogus: expected some of real, label, gmss, sass" in \
        capsys.readouterr().err
    assert (evaluator.stat().st_mtime_ns if evaluator.exists() else None) == before


def test_an_out_of_date_artifact_names_the_setting_that_changed(generated, tmp_path, capsys):
    copy = copy_of(generated, tmp_path)
    # A one-off --seed is saved with the run's settings; what seed 0 made is then out of date,
    # and the error says why instead of sending the user to retrain blindly.
    assert main(["train-downstream", "--run-dir", str(copy), "--augment", "none", *TINY,
                 "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["train-downstream", "--run-dir", str(copy), "--augment", "gmss", *TINY]) == 2
    assert "gmss.npz: out of date (made with seed=0, the run's settings now say 1)" in \
        capsys.readouterr().err
    assert main(["generate", "--run-dir", str(copy), "--strategy", "gmss", *TINY]) == 2
    assert "features.npz: out of date (made with seed=0" in capsys.readouterr().err


def test_report_leaves_out_what_describes_other_data(evaluated, tmp_path):
    stale = copy_of(evaluated, tmp_path)
    # Another subject with other gestures: the results and synthetic sets describe subject 1.
    assert main(["prepare", "--dataset", "simulated", "--subject", "2", "--run-dir", str(stale),
                 *TINY, "--set", "data.sim_gestures=4"]) == 0
    assert main(["report", "--run-dir", str(stale), "--quiet"]) == 0
    report = (stale / "report.md").read_text()
    assert "subject 2" in report and "Downstream accuracy" not in report
    assert "- downstream `cnn-gmss` (`sasgda train-downstream --backbone cnn --augment gmss`)" \
        in report
    assert "- generation quality of `gmss` (`sasgda evaluate`)" in report
    assert "waveforms-" not in report
    # Results made after the new windows are tabled again.
    assert main(["train-downstream", "--run-dir", str(stale), "--augment", "none", *TINY,
                 "--set", "data.sim_gestures=4"]) == 0
    assert main(["report", "--run-dir", str(stale), "--quiet"]) == 0
    report = (stale / "report.md").read_text()
    assert "| cnn | none |" in report and "`cnn-none`" not in report


def test_stages_refuse_what_an_earlier_stage_made_stale(generated, tmp_path, capsys,
                                                        monkeypatch):
    run = generated
    stale = tmp_path / "stale"
    shutil.copytree(run, stale)
    # Another subject's windows: the classifier, generators and synthetic sets describe the old.
    assert main(["prepare", "--dataset", "simulated", "--subject", "2", "--run-dir", str(stale),
                 *TINY]) == 0
    capsys.readouterr()
    for command, artifact, remedy in (
        (["generate", "--strategy", "gmss"], "semantic/features.npz", "train-classifier"),
        (["train-generator"], "semantic/features.npz", "train-classifier"),
        (["train-downstream", "--augment", "gmss"], "synthetic/gmss.npz", "generate"),
        (["evaluate", "--strategies", "gmss"], "synthetic/gmss.npz", "generate"),
    ):
        assert main([command[0], "--run-dir", str(stale), *command[1:], *TINY]) == 2
        err = capsys.readouterr().err
        assert f"{artifact}: out of date" in err and f"sasgda {remedy}" in err

    # A generator whose training was interrupted is not sampled from.
    halted = tmp_path / "halted"
    shutil.copytree(run, halted)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sasgda.diffusion.fit_generator", interrupted)
    assert main(["train-generator", "--run-dir", str(halted), *TINY,
                 "--set", "generator.steps=8"]) == 130
    assert main(["generate", "--run-dir", str(halted), "--strategy", "real", *TINY]) == 2
    assert "training did not finish" in capsys.readouterr().err


def test_run_trains_a_new_generator_when_its_settings_change(tmp_path, capsys):
    run = tmp_path / "run"
    command = ["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run), *TINY]
    assert main(command) == 0
    ema = (run / "generator" / "ema.safetensors").read_bytes()
    assert main([*command, "--set", "generator.lr=1e-3"]) == 0
    assert "trained with other settings or inputs; training a new one" in capsys.readouterr().out
    assert (run / "generator" / "ema.safetensors").read_bytes() != ema
    steps = [json.loads(line)["step"] for line in
             (run / "generator" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4  # a new log, not the old one resumed


def test_data_settings_change_only_with_prepare(prepared, tmp_path, capsys):
    run = copy_of(prepared, tmp_path)
    config_before = (run / "config.yaml").read_text()
    assert main(["train-downstream", "--run-dir", str(run), *TINY,
                 "--set", "data.window_ms=100"]) == 2
    assert "data.window_ms: the run's windows were made with 200.0" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == config_before
