"""Figures for the report: waveforms, feature embeddings, accuracy and confidence sweeps.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through
``pyplot``: no global figure state and no GUI backend, so plotting is safe in worker processes
and on headless machines. Each function writes one PNG atomically and returns its path.
"""

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from sasgda.utils.io import atomic_write_bytes

_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*")


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return atomic_write_bytes(path, buffer.getvalue())


def _class_name(classes: Sequence[str] | None, label: int) -> str:
    if classes is not None and 0 <= label < len(classes):
        return str(classes[label])
    return f"class {label}"


def _mean_sd_arrays(values, n: int, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Split ``values`` (n,) or (n, 2) = (mean, sd) pairs into a mean and an sd (or None)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape == (n,):
        return arr, None
    if arr.shape == (n, 2):
        return arr[:, 0], arr[:, 1]
    raise ValueError(f"{name} must have shape ({n},) or ({n}, 2) = (mean, sd), got {arr.shape}")


def _plot_series(ax, x, mean, sd, **kwargs) -> None:
    """A line with markers, and a shaded ± sd band when ``sd`` is given."""
    (line,) = ax.plot(x, mean, marker="o", **kwargs)
    if sd is not None:
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2, linewidth=0)


def plot_waveforms(
    x_real,
    y_real,
    x_syn,
    y_syn,
    classes: Sequence[str] | None,
    path: str | os.PathLike,
    n_classes_shown: int = 6,
    channel: int | None = None,
    n_chans_shown: int = 4,
    fs_hz: float | None = None,
) -> Path:
    """Real and synthetic windows side by side, one row per class.

    Each panel shows the first window of the class (a line per channel, channels stacked with
    a vertical offset) over the class mean ± sd across all its windows (shaded). All panels share
    the y axis, so real and synthetic amplitudes compare directly.

    Parameters
    ----------
    x_real : array-like, shape (n_real, n_chans, n_times)
    y_real : array-like of int, shape (n_real,)
    x_syn : array-like, shape (n_syn, n_chans, n_times)
    y_syn : array-like of int, shape (n_syn,)
    classes : sequence of str or None
        Class names indexed by label; ``None`` names them ``class k``.
    path : path-like
        Output PNG.
    n_classes_shown : int
        Rows: the first ``n_classes_shown`` labels present in ``y_real``.
    channel : int or None
        Show only this channel; ``None`` shows the first ``n_chans_shown`` channels.
    n_chans_shown : int
        Channels shown when ``channel`` is None.
    fs_hz : float or None
        Sampling rate; when given the time axis is in ms, otherwise in samples.

    Returns
    -------
    pathlib.Path
    """
    x_real, x_syn = np.asarray(x_real, dtype=np.float64), np.asarray(x_syn, dtype=np.float64)
    y_real, y_syn = np.asarray(y_real), np.asarray(y_syn)
    if x_real.ndim != 3 or x_syn.ndim != 3 or x_real.shape[1:] != x_syn.shape[1:]:
        raise ValueError(
            "x_real and x_syn must be (batch, n_chans, n_times) with the same n_chans and "
            f"n_times, got {x_real.shape} and {x_syn.shape}"
        )
    if y_real.shape != (len(x_real),) or y_syn.shape != (len(x_syn),):
        raise ValueError(
            f"y_real {y_real.shape} and y_syn {y_syn.shape} must give one label per window"
        )
    if len(x_real) == 0:
        raise ValueError("x_real is empty; nothing to plot")
    if n_classes_shown < 1:
        raise ValueError(f"n_classes_shown must be >= 1, got {n_classes_shown}")
    n_chans, n_times = x_real.shape[1:]
    if channel is not None and not 0 <= channel < n_chans:
        raise ValueError(f"channel must be in [0, {n_chans - 1}], got {channel}")
    chans = [channel] if channel is not None else list(range(min(n_chans_shown, n_chans)))
    labels = np.unique(y_real)[:n_classes_shown]
    t = np.arange(n_times) * (1000.0 / fs_hz if fs_hz else 1.0)
    # Stack channels 4 real standard deviations apart so their traces do not overlap.
    spacing = 4.0 * float(x_real[:, chans].std()) or 1.0
    offsets = -spacing * np.arange(len(chans))

    fig = _new_figure(8.0, 1.0 + 1.3 * len(labels) * max(1, len(chans) / 2))
    axes = fig.subplots(len(labels), 2, sharex=True, sharey=True, squeeze=False)
    for row, label in enumerate(labels):
        for col, (name, x, y) in enumerate([("real", x_real, y_real), ("synthetic", x_syn, y_syn)]):
            ax = axes[row, col]
            windows = x[y == label][:, chans]  # (n, len(chans), n_times)
            ax.set_title(f"{_class_name(classes, int(label))} — {name}", fontsize=9)
            if len(windows) == 0:
                ax.text(0.5, 0.5, "no windows", ha="center", va="center", transform=ax.transAxes)
                continue
            mean, sd = windows.mean(axis=0), windows.std(axis=0)
            for c, offset in enumerate(offsets):
                color = f"C{c}"
                ax.fill_between(
                    t,
                    offset + mean[c] - sd[c],
                    offset + mean[c] + sd[c],
                    color=color,
                    alpha=0.2,
                    linewidth=0,
                    label="class mean ± sd" if c == 0 else None,
                )
                ax.plot(
                    t,
                    offset + windows[0, c],
                    color=color,
                    linewidth=0.8,
                    label="example window" if c == 0 else None,
                )
            ax.set_yticks(offsets, [f"ch {c + 1}" for c in chans])
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)" if fs_hz else "time (samples)")
    axes[0, 0].legend(loc="upper right", fontsize=7)
    fig.suptitle("Real and synthetic windows per class")
    return _save(fig, path)


def plot_feature_embedding(
    features_by_set: Mapping[str, tuple],
    path: str | os.PathLike,
    method: str = "pca",
    max_per_set: int = 1000,
    seed: int = 0,
) -> Path:
    """2-D embedding of several feature sets (e.g. real, GMSS, SASS), fitted on all together.

    Left panel: points coloured by set. Right panel: coloured by class, one marker per set.

    Parameters
    ----------
    features_by_set : mapping of str to (features, labels)
        ``features`` of shape (n_i, feat_dim) and ``labels`` of shape (n_i,) per set name.
    path : path-like
        Output PNG.
    method : {"pca", "tsne"}
        :class:`sklearn.decomposition.PCA` or :class:`sklearn.manifold.TSNE`.
    max_per_set : int
        At most this many points per set, drawn without replacement (keeps t-SNE fast and the
        plot legible).
    seed : int
        Seed of the subsampling and of t-SNE.

    Returns
    -------
    pathlib.Path
    """
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    if not features_by_set:
        raise ValueError("features_by_set is empty; nothing to plot")
    rng = np.random.default_rng(seed)
    names, feats, labels = [], [], []
    for name, (f, y) in features_by_set.items():
        f, y = np.asarray(f, dtype=np.float64), np.asarray(y)
        if f.ndim != 2 or y.shape != (len(f),):
            raise ValueError(
                f"set {name!r}: expected features (n, feat_dim) and labels (n,), "
                f"got {f.shape} and {y.shape}"
            )
        if len(f) > max_per_set:
            keep = np.sort(rng.choice(len(f), size=max_per_set, replace=False))
            f, y = f[keep], y[keep]
        names.append(name)
        feats.append(f)
        labels.append(y)
    dims = {f.shape[1] for f in feats}
    if len(dims) != 1:
        raise ValueError(f"all sets must share feat_dim, got {sorted(dims)}")
    stacked = np.concatenate(feats)
    if len(stacked) < 3:
        raise ValueError(f"need at least 3 points in all for an embedding, got {len(stacked)}")

    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(stacked)
        embedded = pca.transform(stacked)
        ratio = pca.explained_variance_ratio_ * 100
        axis_labels = (f"PC 1 ({ratio[0]:.0f} %)", f"PC 2 ({ratio[1]:.0f} %)")
    else:
        perplexity = min(30.0, (len(stacked) - 1) / 3)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        embedded = tsne.fit_transform(stacked)
        axis_labels = ("t-SNE 1", "t-SNE 2")
    bounds = np.cumsum([0] + [len(f) for f in feats])
    all_labels = np.concatenate(labels)
    n_classes = int(all_labels.max()) + 1 if all_labels.size else 1

    fig = _new_figure(12.0, 5.0)
    by_set, by_class = fig.subplots(1, 2, sharex=True, sharey=True)
    for i, name in enumerate(names):
        points = embedded[bounds[i] : bounds[i + 1]]
        marker = _MARKERS[i % len(_MARKERS)]
        by_set.scatter(
            points[:, 0],
            points[:, 1],
            s=8,
            alpha=0.5,
            color=f"C{i}",
            marker=marker,
            label=f"{name} ({len(points)})",
        )
        scatter = by_class.scatter(
            points[:, 0],
            points[:, 1],
            s=8,
            alpha=0.6,
            marker=marker,
            c=labels[i],
            cmap="turbo",
            vmin=0,
            vmax=max(n_classes - 1, 1),
            label=name,
        )
    by_set.set_title("coloured by set")
    by_set.legend(markerscale=2, fontsize=8)
    by_class.set_title("coloured by class (marker = set)")
    legend = by_class.legend(markerscale=2, fontsize=8)
    for handle in legend.legend_handles:
        handle.set_color("0.3")
    fig.colorbar(scatter, ax=by_class, label="class")
    for ax in (by_set, by_class):
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
    fig.suptitle(f"Evaluator features ({method.upper()}, fitted on all sets)")
    return _save(fig, path)


def plot_accuracy_vs_ratio(
    ratios: Sequence[float],
    acc_by_method: Mapping[str, Sequence],
    path: str | os.PathLike,
    ylabel: str = "test accuracy",
) -> Path:
    """Downstream accuracy against the synthetic-to-real ratio, one line per method.

    Parameters
    ----------
    ratios : sequence of float, length n
        Synthetic windows per real training window (x axis).
    acc_by_method : mapping of str to sequence
        Per method, n values or n ``(mean, sd)`` pairs; the sd is drawn as a shaded band.
    path : path-like
        Output PNG.
    ylabel : str
        Label of the y axis (values are plotted as given, fractions or percent).

    Returns
    -------
    pathlib.Path
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.ndim != 1 or ratios.size == 0:
        raise ValueError(f"ratios must be a non-empty 1-D sequence, got shape {ratios.shape}")
    if not acc_by_method:
        raise ValueError("acc_by_method is empty; nothing to plot")
    fig = _new_figure(6.0, 4.0)
    ax = fig.subplots()
    for name, values in acc_by_method.items():
        mean, sd = _mean_sd_arrays(values, len(ratios), f"acc_by_method[{name!r}]")
        _plot_series(ax, ratios, mean, sd, label=name)
    ax.set_xlabel("synthetic / real training windows")
    ax.set_ylabel(ylabel)
    ax.set_title("Accuracy vs. amount of synthetic data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confidence_sweep(
    thresholds: Sequence[float], fid, cas, acc, path: str | os.PathLike
) -> Path:
    """FID, CAS and downstream accuracy against the SASS confidence threshold (three panels).

    Parameters
    ----------
    thresholds : sequence of float, length n
        Confidence thresholds (x axis), e.g. 0.05, 0.15, 0.25.
    fid, cas, acc : array-like, shape (n,) or (n, 2)
        Values per threshold, or ``(mean, sd)`` pairs drawn with a shaded band.
    path : path-like
        Output PNG.

    Returns
    -------
    pathlib.Path
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(
            f"thresholds must be a non-empty 1-D sequence, got shape {thresholds.shape}"
        )
    panels = [
        ("fid", fid, "FID (lower is better)"),
        ("cas", cas, "CAS (higher is better)"),
        ("acc", acc, "accuracy (higher is better)"),
    ]
    fig = _new_figure(12.0, 3.6)
    axes = fig.subplots(1, 3, sharex=True)
    for i, (ax, (name, values, ylabel)) in enumerate(zip(axes, panels, strict=True)):
        mean, sd = _mean_sd_arrays(values, len(thresholds), name)
        _plot_series(ax, thresholds, mean, sd, color=f"C{i}")
        ax.set_xlabel("confidence threshold")
        ax.set_ylabel(ylabel)
        ax.set_title(name.upper())
        ax.grid(alpha=0.3)
    fig.suptitle("SASS confidence-threshold sweep")
    return _save(fig, path)
