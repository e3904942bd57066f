"""Segments, windows and the train / val / test protocols (design.md section 3).

A *segment* is a maximal run of samples with one gesture label and one repetition. Windows are
cut inside segments only, so a window keeps its label only when every sample carries it. Rest
samples (label 0, repetition 0 in NinaPro files) belong to the repetition before them, so they
follow that repetition into train or test when rest is included as a class.

Validation windows come from the training repetitions only: the last ``val_fraction`` of every
training segment, with no window straddling the cut, so train and validation never share a
sample and nothing of the test repetitions is ever seen before testing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sasgda.data.recording import Recording


@dataclass(frozen=True)
class Segment:
    start: int
    stop: int  # exclusive
    label: int
    repetition: int


def fill_rest_repetitions(labels: np.ndarray, repetitions: np.ndarray) -> np.ndarray:
    """Repetition numbers where rest samples take the last repetition before them.

    Rest before the first repetition takes the first one. Samples that already carry a
    repetition keep it.
    """
    reps = repetitions.copy()
    known = reps > 0
    if not known.any():
        return reps
    idx = np.where(known, np.arange(len(reps)), -1)
    np.maximum.accumulate(idx, out=idx)
    first = np.flatnonzero(known)[0]
    idx[:first] = first
    return reps[idx]


def find_segments(labels: np.ndarray, repetitions: np.ndarray) -> list[Segment]:
    """Maximal runs of constant (label, repetition)."""
    change = np.flatnonzero((np.diff(labels) != 0) | (np.diff(repetitions) != 0)) + 1
    bounds = np.concatenate([[0], change, [len(labels)]])
    return [
        Segment(int(a), int(b), int(labels[a]), int(repetitions[a]))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def window_starts(start: int, stop: int, window: int, step: int) -> np.ndarray:
    """Start indices of the windows that fit in ``[start, stop)``."""
    if stop - start < window:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, stop - window + 1, step, dtype=np.int64)


@dataclass
class WindowSet:
    """Windows of one or more recordings with their bookkeeping (before class indexing)."""

    x: np.ndarray  # (N, C, L) float32
    label: np.ndarray  # (N,) original gesture id
    repetition: np.ndarray  # (N,)
    split: np.ndarray  # (N,) "train" | "val" | "test"
    session: np.ndarray  # (N,) session / exercise of the source recording

    @staticmethod
    def concat(parts: list[WindowSet], n_chans: int, window: int) -> WindowSet:
        if not parts:
            return WindowSet(
                np.empty((0, n_chans, window), np.float32),
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty(0, "<U5"),
                np.empty(0, "<U16"),
            )
        return WindowSet(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.label for p in parts]),
            np.concatenate([p.repetition for p in parts]),
            np.concatenate([p.split for p in parts]).astype("<U5"),
            np.concatenate([p.session for p in parts]).astype("<U16"),
        )


def window_recording(
    rec: Recording,
    role_of: callable,
    window: int,
    step: int,
    include_rest: bool,
    val_fraction: float,
) -> tuple[WindowSet, int]:
    """Cut one recording into windows.

    Parameters
    ----------
    role_of : callable(recording, repetition) -> "train" | "test" | None
        The protocol: where a repetition of this recording goes (None = unused).

    Returns
    -------
    windows : WindowSet
    longest : int
        The longest usable segment in samples (to explain an empty result).
    """
    reps = fill_rest_repetitions(rec.labels, rec.repetitions)
    view = sliding_window_view(rec.emg, window, axis=0) if len(rec.emg) >= window else None
    starts, labels, repetitions, splits = [], [], [], []
    longest = 0
    for seg in find_segments(rec.labels, reps):
        if seg.label == 0 and not include_rest:
            continue
        role = role_of(rec, seg.repetition)
        if role is None:
            continue
        longest = max(longest, seg.stop - seg.start)
        if role == "train" and val_fraction > 0:
            cut = seg.start + int(round((seg.stop - seg.start) * (1 - val_fraction)))
            parts = [("train", seg.start, cut), ("val", cut, seg.stop)]
        else:
            parts = [(role, seg.start, seg.stop)]
        for split, a, b in parts:
            s = window_starts(a, b, window, step)
            starts.append(s)
            labels.append(np.full(len(s), seg.label, np.int64))
            repetitions.append(np.full(len(s), seg.repetition, np.int64))
            splits.append(np.full(len(s), split, "<U5"))
    if view is None or not starts:
        return WindowSet.concat([], rec.n_chans, window), longest
    idx = np.concatenate(starts)
    return (
        WindowSet(
            np.ascontiguousarray(view[idx], dtype=np.float32),
            np.concatenate(labels),
            np.concatenate(repetitions),
            np.concatenate(splits),
            np.full(len(idx), rec.session, "<U16"),
        ),
        longest,
    )
