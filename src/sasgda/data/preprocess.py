"""Filtering and normalisation (design.md section 3).

2 kHz data get a 4th-order Butterworth band-pass (20-450 Hz by default) and a 50 Hz notch, both
zero-phase (``sosfiltfilt``); 200 Hz Myo data are left as recorded (the Myo filters on board).
The per-channel z-score is fitted on training windows only and stored beside the windows.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, iirnotch, sosfiltfilt, tf2sos

NOTCH_Q = 30.0  # quality factor of the mains notch: ~1.7 Hz wide at 50 Hz


def check_filters(bandpass_hz: tuple[float, ...], notch_hz: float, fs_hz: float, dataset: str):
    """Raise a ValueError naming the dataset when a cutoff is impossible at ``fs_hz``."""
    nyquist = fs_hz / 2
    if bandpass_hz:
        if len(bandpass_hz) != 2 or not 0 < bandpass_hz[0] < bandpass_hz[1]:
            raise ValueError(
                f"dataset {dataset}: data.bandpass_hz must be [low, high] with 0 < low < high, "
                f"got {list(bandpass_hz)}"
            )
        if bandpass_hz[1] >= nyquist:
            raise ValueError(
                f"dataset {dataset}: band-pass cutoff {bandpass_hz[1]:g} Hz is at or above the "
                f"Nyquist frequency {nyquist:g} Hz (sampling rate {fs_hz:g} Hz)"
            )
    if notch_hz and not 0 < notch_hz < nyquist:
        raise ValueError(
            f"dataset {dataset}: notch {notch_hz:g} Hz must lie in (0, {nyquist:g}) Hz "
            f"(sampling rate {fs_hz:g} Hz)"
        )


def filter_emg(
    emg: np.ndarray, fs_hz: float, bandpass_hz: tuple[float, ...] = (), notch_hz: float = 0.0
) -> np.ndarray:
    """Zero-phase band-pass and notch along time.

    Parameters
    ----------
    emg : ndarray, shape (n_samples, n_chans)
    bandpass_hz : (low, high) or () for none
    notch_hz : mains frequency, 0 for none

    Returns
    -------
    ndarray, shape (n_samples, n_chans), float32
    """
    out = np.asarray(emg, dtype=np.float64)
    sections = []
    if bandpass_hz:
        sections.append(butter(4, list(bandpass_hz), btype="bandpass", fs=fs_hz, output="sos"))
    if notch_hz:
        sections.append(tf2sos(*iirnotch(notch_hz, NOTCH_Q, fs=fs_hz)))
    if sections:
        sos = np.concatenate(sections)
        padlen = min(3 * 2 * len(sos), out.shape[0] - 1)
        out = sosfiltfilt(sos, out, axis=0, padlen=padlen)
    return out.astype(np.float32)


def fit_zscore(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of windows ``x`` (N, C, L), as float32 arrays of shape (C,)."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    std = x.std(axis=(0, 2), dtype=np.float64)
    return mean.astype(np.float32), np.maximum(std, eps).astype(np.float32)


def apply_zscore(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` per channel for windows (N, C, L)."""
    return ((x - mean[None, :, None]) / std[None, :, None]).astype(np.float32)
