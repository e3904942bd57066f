"""Every plot function writes a non-empty PNG atomically (tiny inputs)."""

import numpy as np
import pytest

from sasgda.viz import (
    plot_accuracy_vs_ratio,
    plot_confidence_sweep,
    plot_feature_embedding,
    plot_waveforms,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, out_dir):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in out_dir.iterdir() if p.name.endswith(".tmp")]


def test_plot_waveforms(tmp_path):
    rng = np.random.default_rng(0)
    x_real = rng.standard_normal((12, 3, 40)).astype(np.float32)
    x_syn = rng.standard_normal((8, 3, 40)).astype(np.float32)
    y_real, y_syn = np.arange(12) % 3, np.arange(8) % 2  # class 2 has no synthetic window
    path = plot_waveforms(
        x_real,
        y_real,
        x_syn,
        y_syn,
        ["fist", "open", "pinch"],
        tmp_path / "plots" / "waveforms.png",
        fs_hz=200.0,
    )
    _assert_png(path, tmp_path / "plots")
    one = plot_waveforms(
        x_real, y_real, x_syn, y_syn, None, tmp_path / "one.png", n_classes_shown=2, channel=1
    )
    _assert_png(one, tmp_path)
    with pytest.raises(ValueError, match="channel"):
        plot_waveforms(x_real, y_real, x_syn, y_syn, None, tmp_path / "bad.png", channel=3)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_feature_embedding(tmp_path, method):
    rng = np.random.default_rng(1)
    sets = {
        name: (rng.standard_normal((15, 6)) + shift, rng.integers(0, 3, 15))
        for name, shift in [("real", 0.0), ("gmss", 0.5), ("sass", 1.0)]
    }
    path = plot_feature_embedding(sets, tmp_path / f"{method}.png", method=method, max_per_set=10)
    _assert_png(path, tmp_path)
    with pytest.raises(ValueError, match="method"):
        plot_feature_embedding(sets, tmp_path / "bad.png", method="umap")


def test_plot_accuracy_vs_ratio(tmp_path):
    ratios = [0.5, 1.0, 2.0]
    acc = {"none": [0.70, 0.70, 0.70], "sass": [(0.72, 0.01), (0.74, 0.02), (0.75, 0.01)]}
    _assert_png(plot_accuracy_vs_ratio(ratios, acc, tmp_path / "ratio.png"), tmp_path)
    with pytest.raises(ValueError, match="shape"):
        plot_accuracy_vs_ratio(ratios, {"none": [0.7]}, tmp_path / "bad.png")


def test_plot_confidence_sweep(tmp_path):
    thresholds = [0.05, 0.15, 0.25]
    path = plot_confidence_sweep(
        thresholds,
        [1.2, 0.9, 1.1],
        [0.6, 0.7, 0.65],
        [(0.80, 0.01), (0.82, 0.02), (0.81, 0.01)],
        tmp_path / "sweep.png",
    )
    _assert_png(path, tmp_path)
