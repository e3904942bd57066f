"""Bad input: exit code 2, one line on stderr naming the file or value, inputs untouched."""

import hashlib

import numpy as np
import pytest
import scipy.io

from sasgda.cli import main
from tests.conftest import write_ninapro_file


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file()}


def _prepare(capsys, data, *extra, dataset="db2", subject="1", run=None):
    run = run or data.parent / "run"
    code = main(["prepare", "--dataset", dataset, "--data", str(data), "--subject", subject,
                 "--run-dir", str(run), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    return code, err


def _assert_one_line(code, err, *needles):
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return data


def test_missing_path(capsys, folder):
    _assert_one_line(*_prepare(capsys, folder / "nope"), "nope", "no such file")


def test_no_file_for_the_subject(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    _assert_one_line(*_prepare(capsys, folder, subject="9"), "S9_E<e>_A1.mat")


def test_garbage_mat_file(capsys, folder):
    (folder / "S1_E1_A1.mat").write_bytes(b"this is not a MATLAB file at all" * 10)
    before = _digest(folder)
    _assert_one_line(*_prepare(capsys, folder), "S1_E1_A1.mat", "not a readable MATLAB file")
    assert _digest(folder) == before


def test_mat_without_emg(capsys, folder):
    scipy.io.savemat(folder / "S1_E1_A1.mat", {"restimulus": np.zeros((10, 1))})
    _assert_one_line(*_prepare(capsys, folder), "S1_E1_A1.mat", "'emg'")


def test_label_and_emg_lengths_differ(capsys, folder):
    path = write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    mat = scipy.io.loadmat(path)
    mat["restimulus"] = mat["restimulus"][:-5]
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})
    before = _digest(folder)
    _assert_one_line(*_prepare(capsys, folder), "S1_E1_A1.mat", "labels has")
    assert _digest(folder) == before


def test_nan_in_emg(capsys, folder):
    path = write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    mat = scipy.io.loadmat(path)
    mat["emg"][100, 3] = np.inf
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})
    _assert_one_line(*_prepare(capsys, folder), "S1_E1_A1.mat", "NaN or inf", "sample 100")


def test_channel_count_contradicts_the_dataset(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", n_chans=10, rep_s=0.3)
    _assert_one_line(*_prepare(capsys, folder), "S1_E1_A1.mat", "10 channels", "db2 has 12")


def test_window_longer_than_every_segment(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.1)  # 100 ms gestures, 200 ms windows
    _assert_one_line(*_prepare(capsys, folder), "window of 400 samples", "longer than every")


def test_unknown_dataset_and_bad_override(capsys, folder):
    _assert_one_line(*_prepare(capsys, folder, dataset="db99"), "unknown dataset 'db99'")
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    _assert_one_line(*_prepare(capsys, folder, "--set", "data.nope=1"), "unknown key 'nope'")


def test_a_failed_prepare_leaves_the_run_as_it_was(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    run = folder.parent / "run"
    assert _prepare(capsys, folder, run=run)[0] == 0
    before = _digest(run) | _digest(run / "data")
    for data, extra, dataset, needle in (
        (folder, ["--set", "data.window_ms=100000"], "db2", "longer than every"),
        (folder.parent / "nothere", [], "myoup", "nothere"),
    ):
        _assert_one_line(*_prepare(capsys, data, *extra, dataset=dataset, run=run), needle)
        after = _digest(run) | _digest(run / "data")
        # The config still describes the windows on disk (run_info.json records the attempt).
        assert {k: v for k, v in after.items() if k != "run_info.json"} == \
            {k: v for k, v in before.items() if k != "run_info.json"}


def test_run_dir_that_is_a_file(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    run = folder.parent / "run"
    run.write_text("not a folder")
    _assert_one_line(*_prepare(capsys, folder, run=run), "is a file; --run-dir needs a folder")


def test_subject_that_is_not_a_number(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    _assert_one_line(*_prepare(capsys, folder, subject="S1"),
                     "--subject 'S1': db2 numbers its subjects")


def test_nan_in_labels(capsys, folder):
    path = write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    mat = scipy.io.loadmat(path)
    labels = mat["restimulus"].astype(np.float64)
    labels[10] = np.nan
    mat["restimulus"] = labels
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})
    _assert_one_line(*_prepare(capsys, folder), "S1_E1_A1.mat", "'restimulus' holds values "
                     "that are not whole numbers")


@pytest.mark.parametrize("settings, needle", [
    (["downstream.backbone=resnet"], "downstream.backbone='resnet': expected one of cnn,"),
    (["downstream.augment=jiter"], "downstream.augment='jiter': expected one of none, jitter"),
    (["sampler.solver=dpm", "sampler.eta=0.5"], "sampler.eta=0.5: only the ddim solver"),
    (["generator.n_heads=3"], "generator.n_heads=3: must divide every level's width"),
    (["conditions.k=0"], "conditions.k=0: expected >= 1"),
    (["data.protocol=cross-session"], "data.protocol='cross-session': dataset simulated has"),
])
def test_a_bad_setting_of_a_late_stage_fails_before_anything_runs(capsys, tmp_path, settings,
                                                                  needle):
    # `sasgda run` would otherwise train the classifier and the generator first.
    run = tmp_path / "run"
    code = main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--quiet", *[arg for s in settings for arg in ("--set", s)]])
    _assert_one_line(code, capsys.readouterr().err.strip(), needle)
    assert not run.exists()


def test_test_repetitions_that_leave_nothing_to_train_on(capsys, folder):
    write_ninapro_file(folder / "S1_E1_A1.mat", rep_s=0.3)
    _assert_one_line(*_prepare(capsys, folder, "--set", "data.test_repetitions=[1,2,3,4,5,6]"),
                     "data.test_repetitions=[1, 2, 3, 4, 5, 6]: subject 1 has repetitions "
                     "[1, 2, 3, 4, 5, 6]; the test repetitions must be some of them")


def test_a_simulated_subject_that_does_not_exist(capsys, folder):
    for subject in ("0", "99"):
        _assert_one_line(*_prepare(capsys, folder, dataset="simulated", subject=subject),
                         f"--subject {subject}: the simulated dataset has subjects 1-4")
