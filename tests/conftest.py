"""Shared fixtures: where the real data live, and small NinaPro-shaped files written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MYOUP = SHARED_DATA / "myoup-ninapro"
MYO_READINGS = SHARED_DATA / "myo-readings"

# Tests must not fight each other (or CI's two cores) for threads.
torch.set_num_threads(1)


def require(path: Path) -> Path:
    """Skip (not fail) when the shared real-data folder is absent."""
    if not path.exists():
        pytest.skip(f"real sEMG data not found at {path} (../shared/data is absent)")
    return path


@pytest.fixture
def myoup() -> Path:
    return require(MYOUP)


@pytest.fixture
def myo_readings() -> Path:
    return require(MYO_READINGS)


def write_ninapro_file(
    path: Path,
    *,
    n_chans: int = 12,
    fs_hz: float = 2000.0,
    gestures: tuple[int, ...] = (1, 2),
    n_reps: int = 6,
    rep_s: float = 1.0,
    rest_s: float = 0.5,
    signal=None,
    seed: int = 0,
) -> Path:
    """Write a NinaPro-shaped ``.mat`` (emg, restimulus, rerepetition, ...) with scipy.

    ``signal(t, rng) -> (T, n_chans)`` gives the EMG for a gesture block; white noise by default.
    """
    rng = np.random.default_rng(seed)
    rep_n, rest_n = int(rep_s * fs_hz), int(rest_s * fs_hz)
    emg, labels, reps = [], [], []
    for g in gestures:
        for r in range(1, n_reps + 1):
            emg.append(0.01 * rng.standard_normal((rest_n, n_chans)))
            labels.append(np.zeros(rest_n))
            reps.append(np.zeros(rest_n))
            block = signal(np.arange(rep_n) / fs_hz, rng) if signal else rng.standard_normal(
                (rep_n, n_chans)
            ) * (1 + g)
            emg.append(block)
            labels.append(np.full(rep_n, g))
            reps.append(np.full(rep_n, r))
    labels = np.concatenate(labels).astype(np.int32)[:, None]
    reps = np.concatenate(reps).astype(np.int32)[:, None]
    scipy.io.savemat(
        path,
        {
            "emg": np.concatenate(emg),
            "stimulus": labels,
            "restimulus": labels,
            "repetition": reps,
            "rerepetition": reps,
            "frequency": np.array([[fs_hz]]),
        },
    )
    return path
