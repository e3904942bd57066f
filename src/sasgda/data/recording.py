"""`Recording`: one continuous multi-channel sEMG recording with per-sample labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Recording:
    """A continuous recording as every loader returns it.

    Attributes
    ----------
    emg : ndarray, shape (n_samples, n_chans), float32
    labels : ndarray, shape (n_samples,), int64
        Gesture id per sample, 0 = rest. Ids are the dataset's own (not class indices).
    repetitions : ndarray, shape (n_samples,), int64
        Repetition number per sample, 0 = rest (between repetitions).
    fs_hz : float
        Sampling rate.
    subject : str
    session : str
        Session or exercise the recording comes from ("1", "2", ...).
    source : str
        The file it was read from, for error messages.
    """

    emg: np.ndarray
    labels: np.ndarray
    repetitions: np.ndarray
    fs_hz: float
    subject: str
    session: str = "1"
    source: str = ""

    def __post_init__(self) -> None:
        where = self.source or f"subject {self.subject} session {self.session}"
        emg = np.asarray(self.emg)
        if emg.ndim != 2:
            raise ValueError(f"{where}: emg must be 2-D (samples, channels), got shape {emg.shape}")
        if emg.shape[0] < emg.shape[1]:
            raise ValueError(
                f"{where}: emg has shape {emg.shape}: fewer samples than channels "
                "(expected samples along the first axis)"
            )
        labels = np.asarray(self.labels).reshape(-1)
        repetitions = np.asarray(self.repetitions).reshape(-1)
        for name, values in (("labels", labels), ("repetitions", repetitions)):
            if len(values) != len(emg):
                raise ValueError(
                    f"{where}: {name} has {len(values)} samples but emg has {len(emg)}"
                )
            # A cast would quietly merge gestures 1 and 1.5, or make -1 a gesture.
            if not np.issubdtype(values.dtype, np.integer) and not (
                np.issubdtype(values.dtype, np.number) and np.all(np.mod(values, 1) == 0)
            ):
                raise ValueError(f"{where}: {name} must hold whole numbers (0 = rest)")
            if len(values) and values.min() < 0:
                raise ValueError(f"{where}: {name} must be >= 0 (0 = rest), found {values.min()}")
        if not np.all(np.isfinite(emg)):
            bad = np.argwhere(~np.isfinite(emg))[0]
            raise ValueError(
                f"{where}: emg contains NaN or inf (first at sample {bad[0]}, channel {bad[1]})"
            )
        if not (np.isfinite(self.fs_hz) and self.fs_hz > 0):
            raise ValueError(f"{where}: sampling rate must be positive, got {self.fs_hz}")
        self.emg = emg.astype(np.float32, copy=False)
        self.labels = labels.astype(np.int64, copy=False)
        self.repetitions = repetitions.astype(np.int64, copy=False)
        self.fs_hz = float(self.fs_hz)
        self.subject = str(self.subject)
        self.session = str(self.session)

    @property
    def n_chans(self) -> int:
        return int(self.emg.shape[1])
