"""The Python API over arrays: SASGDA fit / sample / save / load, load_dataset, AugmentedDataset,
and the README's example run as written on tiny settings."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from sasgda import SASGDA, AugmentedDataset, load_dataset

ROOT = Path(__file__).resolve().parents[2]
MYOUP = ROOT.parent / "shared" / "data" / "myoup-ninapro"
TINY = {
    "classifier": {"train": {"epochs": 2}},
    "generator": {"steps": 6, "base_channels": 8, "channel_mults": [1, 2], "n_heads": 2,
                  "batch_size": 16},
    "sampler": {"steps": 3},
    "conditions": {"confidence": 0.0, "max_rounds": 2},
}


@pytest.fixture(scope="module")
def data():
    return load_dataset("simulated", subject="1", sim_gestures=3, sim_rep_seconds=1.5)


@pytest.fixture(scope="module")
def fitted(data):
    # Gesture ids 10, 11, 12 and windows in a raw scale, as a user's own arrays might be.
    x = 50.0 * data["x_train"] + 3.0
    return SASGDA(strategy="gmss", seed=0, device="cpu", config=TINY, progress=False).fit(
        x, data["y_train"] + 10)


def test_load_dataset_gives_the_splits_of_prepare(data):
    assert {"x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "classes"} <= set(data)
    assert data["x_train"].ndim == 3 and data["x_train"].dtype == np.float32
    assert len(data["x_test"]) > 0 and len(data["x_val"]) == 0  # val_fraction 0 by default
    assert set(np.unique(data["y_train"])) == {0, 1, 2}


def test_sample_returns_the_users_labels_and_scale(fitted, data):
    x, y = fitted.sample(n=30)
    assert x.shape == (30, *data["x_train"].shape[1:]) and x.dtype == np.float32
    assert set(np.unique(y)) <= {10, 11, 12}
    # Windows come back in the scale they were given in (mean 3, spread ~50), not z-scored.
    assert abs(float(x.mean()) - 3.0) < 10 and float(x.std()) > 5
    # The training set's class proportions by default, the same count per class when balanced.
    _, y_bal = fitted.sample(n=30, balanced=True)
    assert np.bincount(y_bal - 10).tolist() == [10, 10, 10]


def test_same_seed_same_windows_and_another_seed_another_draw(fitted):
    a, _ = fitted.sample(n=12)
    b, _ = fitted.sample(n=12)
    c, _ = fitted.sample(n=12, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_save_and_load_give_the_same_windows(fitted, tmp_path):
    folder = fitted.save(tmp_path / "aug")
    assert sorted(p.name for p in folder.iterdir()) == [
        "arrays.safetensors", "augmenter.json", "classifier", "generator"]
    assert not list(folder.rglob("*.pt")) and not list(folder.rglob("*.pkl"))  # no pickle
    loaded = SASGDA.load(folder, device="cpu", progress=False)
    assert loaded.strategy == "gmss" and loaded.config == fitted.config
    assert np.array_equal(loaded.sample(n=12)[0], fitted.sample(n=12)[0])
    fitted.save(folder)  # saving over a saved augmenter replaces it
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_save_never_overwrites_other_files(fitted, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no saved augmenter"):
        fitted.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_load_names_the_file_it_cannot_use(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="augmenter.json: not found"):
        SASGDA.load(tmp_path)
    folder = fitted.save(tmp_path / "aug")
    meta = folder / "augmenter.json"
    meta.write_text(meta.read_text()[:40])
    with pytest.raises(ValueError, match="augmenter.json: not valid JSON"):
        SASGDA.load(folder)
    meta.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a sasgda-augmenter version 1 file"):
        SASGDA.load(folder)


@pytest.mark.parametrize("kwargs,message", [
    ({"strategy": "smote"}, "strategy='smote': expected one of real, label, gmss, sass"),
    ({"config": {"generator": {"stepz": 3}}}, "stepz"),
    ({"config": {"sampler": {"solver": "euler"}}}, "sampler.solver='euler'"),
    ({"device": "tpu"}, "--device 'tpu'"),
])
def test_bad_settings_are_refused_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SASGDA(**kwargs)


def test_bad_arrays_and_unfitted_use_are_refused(data):
    aug = SASGDA(config=TINY, device="cpu", progress=False)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        aug.sample(n=3)
    x, y = data["x_train"], data["y_train"]
    with pytest.raises(ValueError, match=r"expected windows of shape \(N, n_chans, n_times\)"):
        aug.fit(x[:, 0], y)
    with pytest.raises(ValueError, match="one integer label per window"):
        aug.fit(x, y[:-1])
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        aug.fit(bad, y)
    with pytest.raises(ValueError, match="need at least 2"):
        aug.fit(x, np.zeros_like(y))


def test_augmented_dataset_puts_real_windows_first(data, fitted):
    x_syn, y_syn = fitted.sample(n=40)
    ds = AugmentedDataset(data["x_train"], data["y_train"], x_syn, y_syn - 10, ratio=0.5)
    n = len(data["x_train"])
    assert len(ds) == n + round(0.5 * n) and ds.n_real == n
    x0, y0 = ds[0]
    assert np.array_equal(x0.numpy(), data["x_train"][0]) and int(y0) == data["y_train"][0]


@pytest.mark.skipif(not MYOUP.is_dir(), reason=f"{MYOUP} is absent: the README example reads "
                    "MyoUP from ../shared/data")
def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Quick start in Python.*?```python\n(.*?)```", readme, re.S).group(1)
    # As written, but with tiny settings instead of a full generator and a full classifier.
    assert 'config={"generator": {"steps": 3000}}' in code
    code = code.replace('config={"generator": {"steps": 3000}}', f"config={TINY!r}")
    code = code.replace('"../shared/data/myoup-ninapro"', repr(str(MYOUP)))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert (tmp_path / "my-augmenter" / "augmenter.json").is_file()
    n = len(scope["d"]["x_train"])
    assert len(scope["x_syn"]) == 2 * n and len(scope["train_set"]) == 3 * n
    x, y = next(iter(scope["loader"]))
    assert x.shape[1:] == scope["d"]["x_train"].shape[1:] and len(y) == 128
