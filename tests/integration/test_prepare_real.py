"""`prepare` on the real recordings in ../shared/data (skipped when that folder is absent)."""

import numpy as np

from sasgda.cli import main
from sasgda.utils.io import load_npz


def test_myoup_subject1_intra_subject(myoup, tmp_path):
    assert main(["prepare", "--dataset", "myoup", "--data", str(myoup), "--subject", "1",
                 "--run-dir", str(tmp_path / "r"), "--quiet"]) == 0
    w = load_npz(tmp_path / "r" / "data" / "windows.npz")
    assert len(w["classes"]) == 22
    assert w["x"].shape[1:] == (8, 40)
    assert float(w["fs_hz"]) == 200.0
    test = w["split"] == "test"
    assert set(np.unique(w["repetition"][test])) == {2, 5}
    assert not np.isin(w["repetition"][~test], [2, 5]).any()
    # The default trains on every training window; a validation fraction takes the tail of each.
    assert {"train", "test"} == set(np.unique(w["split"]))
    assert main(["prepare", "--dataset", "myoup", "--data", str(myoup), "--subject", "1",
                 "--run-dir", str(tmp_path / "v"), "--set", "data.val_fraction=0.2",
                 "--quiet"]) == 0
    split = load_npz(tmp_path / "v" / "data" / "windows.npz")["split"]
    assert {"train", "val", "test"} == set(np.unique(split))
    assert (split == "test").sum() == test.sum()


def test_myoup_subject2_has_ten_gestures(myoup, tmp_path):
    assert main(["prepare", "--dataset", "myoup", "--data", str(myoup), "--subject", "2",
                 "--run-dir", str(tmp_path / "r"), "--quiet"]) == 0
    assert len(load_npz(tmp_path / "r" / "data" / "windows.npz")["classes"]) == 10


def test_myo_readings_cross_session(myo_readings, tmp_path):
    for rest, n_classes in (("false", 7), ("true", 8)):
        run = tmp_path / rest
        assert main(["prepare", "--dataset", "myo-readings", "--data", str(myo_readings),
                     "--subject", "12345", "--protocol", "cross-session", "--run-dir", str(run),
                     "--set", f"data.include_rest={rest}", "--quiet"]) == 0
        w = load_npz(run / "data" / "windows.npz")
        assert len(w["classes"]) == n_classes
        assert set(np.unique(w["session"][w["split"] == "test"])) == {"3"}
        assert set(np.unique(w["session"][w["split"] != "test"])) == {"1", "2"}


def test_prepare_twice_is_byte_identical(myoup, tmp_path):
    outs = []
    for name in ("a", "b"):
        assert main(["prepare", "--dataset", "myoup", "--data", str(myoup), "--subject", "3",
                     "--run-dir", str(tmp_path / name), "--seed", "7", "--quiet"]) == 0
        outs.append((tmp_path / name / "data" / "windows.npz").read_bytes())
    assert outs[0] == outs[1]
