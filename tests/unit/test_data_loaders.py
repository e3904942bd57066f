import numpy as np
import pytest
import scipy.io

from sasgda.config import DataConfig
from sasgda.data import prepare_windows
from sasgda.data.ninapro import load_ninapro
from tests.conftest import write_ninapro_file


def _db2_signal(t, rng):
    """A 150 Hz tone (in band) plus 5 Hz drift and 50 Hz mains (both out of band)."""
    chans = 12
    tone = np.sin(2 * np.pi * 150 * t)[:, None] * np.ones(chans)
    drift = 5 * np.sin(2 * np.pi * 5 * t)[:, None]
    mains = 3 * np.sin(2 * np.pi * 50 * t)[:, None]
    return tone + drift + mains + 0.01 * rng.standard_normal((len(t), chans))


def test_db2_shaped_file_band_pass_window_length_and_split(tmp_path):
    write_ninapro_file(
        tmp_path / "S3_E1_A1.mat", gestures=(1, 2), rep_s=3.0, signal=_db2_signal
    )
    cfg = DataConfig(dataset="db2", val_fraction=0.0)
    arrays = prepare_windows(cfg, tmp_path, 3)
    assert arrays["x"].shape[1:] == (12, 400)  # 200 ms at 2 kHz
    assert float(arrays["fs_hz"]) == 2000.0
    test = arrays["split"] == "test"
    assert sorted(np.unique(arrays["repetition"][test])) == [2, 5]
    assert sorted(np.unique(arrays["repetition"][~test])) == [1, 3, 4, 6]
    # Band-pass + notch: what is left of a window is the 150 Hz tone alone. Window 13 lies
    # in the middle of the first 3 s block, clear of the narrow notch's ringing at its edges.
    raw = prepare_windows(DataConfig(dataset="db2", bandpass_hz=(), notch_hz=0.0), tmp_path, 3)
    x = arrays["x"][13, 0] * arrays["norm_std"][0] + arrays["norm_mean"][0]
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(400, 1 / 2000)
    assert freqs[np.argmax(spectrum)] == 150
    assert spectrum[freqs == 50][0] < 0.05 * spectrum.max()
    assert spectrum[freqs == 5][0] < 0.05 * spectrum.max()
    x_raw = raw["x"][13, 0] * raw["norm_std"][0] + raw["norm_mean"][0]
    assert np.abs(np.fft.rfft(x_raw))[freqs == 50][0] > 0.5 * spectrum.max()


def test_overlapping_gesture_ids_are_offset_per_exercise(tmp_path):
    write_ninapro_file(tmp_path / "S1_E1_A1.mat", gestures=(1, 2), rep_s=0.3)
    write_ninapro_file(tmp_path / "S1_E2_A1.mat", gestures=(1, 2, 3), rep_s=0.3)
    recs = load_ninapro(tmp_path, "1", 2000.0)
    assert [sorted(set(r.labels[r.labels > 0])) for r in recs] == [[1, 2], [3, 4, 5]]


def test_exercise_sizes_place_gestures_even_when_a_file_is_missing(tmp_path):
    db2 = (17, 23, 9)  # gestures of E1, E2, E3
    write_ninapro_file(tmp_path / "S2_E2_A1.mat", gestures=(1, 2, 3), rep_s=0.3)  # no E1
    write_ninapro_file(tmp_path / "S2_E3_A1.mat", gestures=(1, 2), rep_s=0.3)
    recs = load_ninapro(tmp_path, "2", 2000.0, db2)
    assert [sorted(set(r.labels[r.labels > 0])) for r in recs] == [[18, 19, 20], [41, 42]]
    # Files that already number gestures across exercises (as MyoUP's do) are left alone.
    write_ninapro_file(tmp_path / "S3_E2_A1.mat", gestures=(24, 25), rep_s=0.3)
    recs = load_ninapro(tmp_path, "3", 2000.0, db2)
    assert sorted(set(recs[0].labels[recs[0].labels > 0])) == [24, 25]


def test_falls_back_to_stimulus_and_repetition(tmp_path):
    path = write_ninapro_file(tmp_path / "S1_E1_A1.mat", rep_s=0.3)
    mat = scipy.io.loadmat(path)
    scipy.io.savemat(path, {k: mat[k] for k in ("emg", "stimulus", "repetition", "frequency")})
    recs = load_ninapro(tmp_path, "1", None)
    assert recs[0].fs_hz == 2000.0 and set(recs[0].labels) == {0, 1, 2}


def test_mat73_files_are_read_through_h5py(tmp_path):
    h5py = pytest.importorskip("h5py")
    src = scipy.io.loadmat(write_ninapro_file(tmp_path / "v7.mat", rep_s=0.3))
    path = tmp_path / "S1_E1_A1.mat"
    with h5py.File(path, "w", userblock_size=512) as handle:
        for key in ("emg", "restimulus", "rerepetition", "frequency"):
            handle[key] = src[key].T  # MATLAB is column-major
    with open(path, "r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema")
    recs = load_ninapro(tmp_path, "1", 2000.0)
    np.testing.assert_allclose(recs[0].emg, src["emg"].astype(np.float32))


def test_npz_format_supports_every_protocol(tmp_path):
    from sasgda.data.simulated import simulate_subject

    for subject in ("a", "b"):
        for session in ("1", "2"):
            rec = simulate_subject(1 if subject == "a" else 2, n_gestures=3, rep_seconds=1.0)
            np.savez(
                tmp_path / f"{subject}_{session}.npz",
                emg=rec.emg, labels=rec.labels, repetitions=rec.repetitions, fs_hz=rec.fs_hz,
            )
    intra = prepare_windows(DataConfig(dataset="npz"), tmp_path, "a")
    assert set(np.unique(intra["repetition"][intra["split"] == "test"])) == {2, 5}
    cross = prepare_windows(DataConfig(dataset="npz", protocol="cross-session"), tmp_path, "a")
    assert set(np.unique(cross["session"][cross["split"] == "test"])) == {"2"}
    loso = prepare_windows(DataConfig(dataset="npz", protocol="cross-subject"), tmp_path, "b")
    assert (loso["split"] == "test").sum() == len(intra["x"]) or (loso["split"] == "test").any()


def test_protocol_the_dataset_lacks_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no protocol 'cross-session'"):
        prepare_windows(DataConfig(protocol="cross-session"), None, 1)


@pytest.mark.parametrize("change, message", [
    (dict(labels=lambda r: r.labels / 2), "labels must hold whole numbers"),
    (dict(repetitions=lambda r: r.repetitions + 0.5), "repetitions must hold whole numbers"),
    (dict(labels=lambda r: np.where(r.labels == 1, -1, r.labels)), "labels must be >= 0"),
    (dict(fs_hz=lambda r: np.array([200.0, 1000.0])), "fs_hz must be one number"),
])
def test_npz_labels_that_a_cast_would_corrupt_are_an_error(tmp_path, change, message):
    # Gesture 0.5 used to become rest and 1.5 to join gesture 1, without a word.
    from sasgda.data.simulated import simulate_subject

    rec = simulate_subject(1, n_gestures=3, rep_seconds=1.0)
    arrays = dict(emg=rec.emg, labels=rec.labels, repetitions=rec.repetitions, fs_hz=rec.fs_hz)
    arrays.update({key: make(rec) for key, make in change.items()})
    np.savez(tmp_path / "a_1.npz", **arrays)
    with pytest.raises(ValueError, match=message) as err:
        prepare_windows(DataConfig(dataset="npz"), tmp_path, "a")
    assert "a_1.npz" in str(err.value)


def _write_npz(path, **changes):
    from sasgda.data.simulated import simulate_subject

    rec = simulate_subject(1, n_gestures=3, rep_seconds=1.0)
    arrays = dict(emg=rec.emg, labels=rec.labels, repetitions=rec.repetitions, fs_hz=rec.fs_hz)
    np.savez(path, **{**arrays, **{k: make(arrays) for k, make in changes.items()}})


@pytest.mark.parametrize("changes, config, message", [
    (dict(repetitions=lambda a: np.minimum(a["repetitions"], 1)), {},
     r"subject a has 1 numbered repetition\(s\) \[1\]; the intra-subject protocol needs at "
     "least two"),
    ({}, dict(test_repetitions=(2, 9)),
     r"data.test_repetitions=\[2, 9\]: subject a has no repetition \[9\]"),
    (dict(labels=lambda a: np.minimum(a["labels"], 1)), {},
     "1 gesture\\(s\\) with windows in both the train and the test part; a classifier needs"),
])
def test_data_no_protocol_can_use_is_an_error(tmp_path, changes, config, message):
    _write_npz(tmp_path / "a_1.npz", **changes)
    with pytest.raises(ValueError, match=message):
        prepare_windows(DataConfig(dataset="npz", **config), tmp_path, "a")


def test_sessions_with_other_channel_counts_are_an_error_naming_the_file(tmp_path):
    _write_npz(tmp_path / "a_1.npz")
    _write_npz(tmp_path / "a_2.npz", emg=lambda a: a["emg"][:, :6])
    with pytest.raises(ValueError, match=r"a_2.npz: 6 channels, but .*a_1.npz has 8"):
        prepare_windows(DataConfig(dataset="npz"), tmp_path, "a")


def test_a_gesture_file_holding_another_gesture_is_an_error(tmp_path):
    from sasgda.data.csvfiles import load_csv_session

    folder = tmp_path / "p-1"
    folder.mkdir()
    labels = np.repeat([0, 5, 0, 5, 0], 50)  # gesture 5 inside 2.txt
    rows = np.column_stack([np.random.default_rng(0).standard_normal((len(labels), 8)), labels])
    np.savetxt(folder / "2.txt", rows, delimiter=",", fmt="%.4f")
    with pytest.raises(ValueError, match=r"2.txt: labels \[5\] inside the file of gesture 2"):
        load_csv_session(folder, "p", "1", 50.0)


def test_the_test_sessions_are_a_setting_and_prepare_prints_the_split(tmp_path, capsys):
    from sasgda.cli import main
    from sasgda.utils.io import load_npz

    for session in ("training0", "Test0", "Test1"):
        _write_npz(tmp_path / f"a_{session}.npz")
    run = tmp_path / "run"
    assert main(["prepare", "--dataset", "npz", "--data", str(tmp_path), "--subject", "a",
                 "--protocol", "cross-session", "--run-dir", str(run),
                 "--set", "data.test_sessions=[Test0, Test1]"]) == 0
    w = load_npz(run / "data" / "windows.npz")
    assert set(w["session"][w["split"] == "test"]) == {"Test0", "Test1"}
    assert set(w["session"][w["split"] == "train"]) == {"training0"}
    out = capsys.readouterr().out + capsys.readouterr().err
    assert "| train | training0 |" in out and "| test | Test0, Test1 |" in out
    with pytest.raises(ValueError, match=r"data.test_sessions=\['Test2'\]: subject a has "
                                         r"sessions \['Test0', 'Test1', 'training0'\]"):
        prepare_windows(DataConfig(dataset="npz", protocol="cross-session",
                                   test_sessions=("Test2",)), tmp_path, "a")


def test_a_default_that_cannot_apply_is_an_error_not_a_smaller_test_set(tmp_path):
    # Four repetitions: NinaPro-style default test repetitions 2 and 5 would silently become {2}.
    _write_npz(tmp_path / "a_1.npz", repetitions=lambda a: np.minimum(a["repetitions"], 4))
    with pytest.raises(ValueError, match=r"data.test_repetitions: npz's default test "
                                         r"repetitions \[2, 5\]: subject a has no repetition "
                                         r"\[5\] \(it has \[1, 2, 3, 4\]\)"):
        prepare_windows(DataConfig(dataset="npz"), tmp_path, "a")
    ok = prepare_windows(DataConfig(dataset="npz", test_repetitions=(2,)), tmp_path, "a")
    assert set(ok["repetition"][ok["split"] == "test"]) == {2}
