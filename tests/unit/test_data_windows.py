import numpy as np
import pytest
from scipy.signal import welch

from sasgda.config import DataConfig
from sasgda.data import prepare_windows
from sasgda.data.preprocess import check_filters, filter_emg
from sasgda.data.recording import Recording
from sasgda.data.simulated import simulate_subject
from sasgda.data.windows import fill_rest_repetitions, find_segments, window_recording


def test_rest_takes_the_repetition_before_it():
    labels = np.array([0, 1, 1, 0, 0, 2, 2, 0])
    reps = np.array([0, 1, 1, 0, 0, 2, 2, 0])
    assert fill_rest_repetitions(labels, reps).tolist() == [1, 1, 1, 1, 1, 2, 2, 2]


def test_segments_are_maximal_runs():
    labels = np.array([1, 1, 2, 2, 2, 0])
    reps = np.array([1, 1, 1, 2, 2, 2])
    segs = find_segments(labels, reps)
    assert [(s.start, s.stop, s.label, s.repetition) for s in segs] == [
        (0, 2, 1, 1), (2, 3, 2, 1), (3, 5, 2, 2), (5, 6, 0, 2)
    ]


def _toy_recording(n=200):
    labels = np.zeros(n, int)
    reps = np.zeros(n, int)
    labels[20:100], reps[20:100] = 1, 1
    labels[120:190], reps[120:190] = 1, 2
    emg = np.arange(n, dtype=np.float32)[:, None].repeat(2, 1)  # the sample index itself
    return Recording(emg, labels, reps, fs_hz=100.0, subject="1")


def test_windows_are_pure_and_train_val_never_share_a_sample():
    rec = _toy_recording()
    ws, _ = window_recording(rec, lambda r, rep: "train", 10, 5, False, 0.25)
    assert ws.x.shape[1:] == (2, 10)
    first_sample = ws.x[:, 0, 0].astype(int)
    labels = rec.labels
    for start in first_sample:  # every sample of every window carries the gesture label
        assert np.all(labels[start:start + 10] == 1)
    for rep in (1, 2):
        train = ws.x[(ws.split == "train") & (ws.repetition == rep)][:, 0, :].ravel()
        val = ws.x[(ws.split == "val") & (ws.repetition == rep)][:, 0, :].ravel()
        assert len(train) and len(val)
        assert train.max() < val.min()  # validation is the tail, no overlap


def test_filter_passes_its_band_and_stops_the_rest():
    fs = 2000.0
    t = np.arange(int(4 * fs)) / fs
    tones = {5.0: None, 50.0: None, 150.0: None, 800.0: None}
    emg = np.stack([np.sin(2 * np.pi * f * t) for f in tones], axis=1)
    out = filter_emg(emg, fs, (20.0, 450.0), 50.0)
    gain = np.sqrt((out[2000:-2000] ** 2).mean(0) / (emg[2000:-2000] ** 2).mean(0))
    assert gain[2] > 0.95  # 150 Hz in the pass band
    assert gain[0] < 0.01  # 5 Hz below it
    assert gain[3] < 0.01  # 800 Hz above it
    assert gain[1] < 0.05  # 50 Hz mains notched out


def test_cutoff_at_or_above_nyquist_names_the_dataset():
    with pytest.raises(ValueError, match="dataset myoup.*Nyquist"):
        check_filters((20.0, 450.0), 0.0, 200.0, "myoup")
    with pytest.raises(ValueError, match="dataset myoup: notch"):
        check_filters((), 150.0, 200.0, "myoup")
    with pytest.raises(ValueError, match="Nyquist"):
        prepare_windows(DataConfig(dataset="simulated", bandpass_hz=(20.0, 100.0)), None, 1)


def test_simulated_data_are_deterministic_and_gesture_specific():
    a, b = simulate_subject(1), simulate_subject(1)
    np.testing.assert_array_equal(a.emg, b.emg)
    assert not np.array_equal(a.emg, simulate_subject(2).emg)
    # Different gestures excite different channels.
    rms = np.stack([np.sqrt((a.emg[a.labels == g] ** 2).mean(0)) for g in (1, 2, 3)])
    assert np.abs(np.corrcoef(rms)[0, 1:]).max() < 0.99
    f, p = welch(a.emg[a.labels == 1][:, 0], fs=a.fs_hz)
    assert f[np.argmax(p)] > 5  # band-limited, not a DC offset


def test_simulated_prepare_split_and_normalisation():
    arrays = prepare_windows(DataConfig(), None, 1)
    train = arrays["split"] == "train"
    assert set(np.unique(arrays["repetition"][arrays["split"] == "test"])) == {2, 5}
    assert set(np.unique(arrays["repetition"][~(arrays["split"] == "test")])) == {1, 3, 4, 6}
    x = arrays["x"][train]
    np.testing.assert_allclose(x.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 2)), 1, atol=1e-3)
    assert arrays["x"].dtype == np.float32 and arrays["y"].dtype == np.int64
    assert arrays["y"].min() == 0 and arrays["y"].max() == len(arrays["classes"]) - 1


def test_cross_subject_leaves_the_subject_out():
    arrays = prepare_windows(DataConfig(protocol="cross-subject", sim_subjects=3), None, 2)
    counts = {s: int((arrays["split"] == s).sum()) for s in ("train", "val", "test")}
    assert counts["test"] > 0 and counts["train"] > counts["test"]


def test_gesture_missing_from_test_is_dropped_with_a_warning(tmp_path):
    from tests.conftest import write_ninapro_file

    write_ninapro_file(tmp_path / "S1_E1_A1.mat", n_chans=12, gestures=(1, 2), rep_s=0.5)
    # Gesture 18 (DB2's first of exercise 2) only appears in repetitions 1, 3 (train): it has
    # no test windows.
    write_ninapro_file(
        tmp_path / "S1_E2_A1.mat", n_chans=12, gestures=(18,), n_reps=1, rep_s=0.5
    )
    with pytest.warns(UserWarning, match="gesture 18 has windows only in the train part"):
        arrays = prepare_windows(DataConfig(dataset="db2"), tmp_path, 1)
    assert arrays["classes"].tolist() == [1, 2]


def test_subject_lists_expand_ranges_and_keep_named_subjects():
    from sasgda.data import parse_subjects

    assert parse_subjects("1-3,7") == ["1", "2", "3", "7"]
    assert parse_subjects("12345, 21547,") == ["12345", "21547"]
    assert parse_subjects("p-1") == ["p-1"]  # not a range of numbers: a subject's name
    with pytest.raises(ValueError, match="range 5-2 is empty"):
        parse_subjects("5-2")
    with pytest.raises(ValueError, match="no subject"):
        parse_subjects(" , ")
