"""A deterministic generator of NinaPro-like multi-channel sEMG (SIMULATED, not real data).

Used by the demo and the fast tests, so that the whole pipeline runs without any file. The model
is the usual phenomenological one for surface EMG: a gesture is a pattern of muscle activation
over the electrode ring; each electrode records band-limited Gaussian noise (the interference
pattern of many motor units) whose amplitude follows the activation envelope.

For subject s, gesture g, repetition r:
1. A gesture pattern ``a_g`` (C,) over the channels: two smooth bumps on the ring (circular
   electrode layout), the same for every repetition, slightly rotated per subject (armband
   placement differs between subjects).
2. A per-gesture spectral shape: the noise is band-passed around a gesture-specific centre
   frequency (fibre-type and depth differences change the spectrum).
3. Per repetition: amplitude x U(0.6, 1.4), a log-normal perturbation of the pattern, a
   trapezoid envelope with random onset/offset ramps, and a sensor noise floor; rest in between
   carries low baseline noise.

Everything is drawn from ``np.random.default_rng((seed, subject))`` so one subject's data never
depend on how many subjects are generated.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

from sasgda.data.recording import Recording

BASE_SEED = 20_251_108  # fixed: the simulated dataset is the same everywhere
# Log-normal spread of each channel's activation from one repetition to the next, and the
# sensor noise floor relative to a full activation. They make the task realistically hard: a
# small CNN reaches roughly 80-90 %, not 100 %, so that augmentation has something to fix.
REP_VARIABILITY = 0.45
NOISE_FLOOR = 0.25


def _band_noise(rng: np.random.Generator, n: int, n_chans: int, fs_hz: float, centre: float):
    """White noise band-passed to [0.5, 1.5] x centre (clamped below Nyquist), unit variance."""
    nyquist = fs_hz / 2
    low = max(5.0, 0.5 * centre)
    high = min(0.95 * nyquist, 1.5 * centre)
    sos = butter(4, [low, high], btype="bandpass", fs=fs_hz, output="sos")
    noise = sosfiltfilt(sos, rng.standard_normal((n, n_chans)), axis=0)
    return noise / noise.std(axis=0, keepdims=True)


def simulate_subject(
    subject: int,
    *,
    n_chans: int = 8,
    fs_hz: float = 200.0,
    n_gestures: int = 8,
    n_repetitions: int = 6,
    rep_seconds: float = 4.0,
    rest_seconds: float = 2.0,
) -> Recording:
    """One subject's recording: every gesture repeated ``n_repetitions`` times, rest between.

    Returns a :class:`Recording` with gesture ids 1..n_gestures and repetitions 1..n.
    """
    if n_chans < 2 or n_gestures < 1 or n_repetitions < 2:
        raise ValueError("simulated data needs >= 2 channels, >= 1 gesture and >= 2 repetitions")
    gesture_rng = np.random.default_rng((BASE_SEED, 0))  # gestures shared across subjects
    rng = np.random.default_rng((BASE_SEED, int(subject)))
    ring = np.arange(n_chans)
    shift = rng.uniform(-0.5, 0.5)  # armband placement of this subject, in electrodes
    patterns, centres = [], []
    for _ in range(n_gestures):
        pattern = np.full(n_chans, 0.05)
        for _bump in range(2):
            mu, width = gesture_rng.uniform(0, n_chans), gesture_rng.uniform(0.6, 1.6)
            dist = np.abs(((ring - mu - shift) + n_chans / 2) % n_chans - n_chans / 2)
            pattern += gesture_rng.uniform(0.4, 1.0) * np.exp(-0.5 * (dist / width) ** 2)
        patterns.append(pattern)
        centres.append(gesture_rng.uniform(0.08, 0.3) * fs_hz)

    rep_len, rest_len = int(rep_seconds * fs_hz), int(rest_seconds * fs_hz)
    emg, labels, repetitions = [], [], []

    def rest(n: int) -> None:
        emg.append(0.05 * _band_noise(rng, n, n_chans, fs_hz, 0.2 * fs_hz))
        labels.append(np.zeros(n, np.int64))
        repetitions.append(np.zeros(n, np.int64))

    for g in range(n_gestures):
        for r in range(1, n_repetitions + 1):
            rest(rest_len)
            gain = rng.uniform(0.6, 1.4)
            pattern = patterns[g] * np.exp(REP_VARIABILITY * rng.standard_normal(n_chans))
            ramp = rng.integers(max(1, rep_len // 20), max(2, rep_len // 6))
            edge_distance = np.minimum(np.arange(rep_len), np.arange(rep_len)[::-1])
            envelope = np.minimum(1.0, edge_distance / ramp)
            noise = _band_noise(rng, rep_len, n_chans, fs_hz, centres[g] * rng.uniform(0.9, 1.1))
            floor = NOISE_FLOOR * _band_noise(rng, rep_len, n_chans, fs_hz, 0.2 * fs_hz)
            emg.append(gain * envelope[:, None] * pattern[None, :] * noise + floor)
            labels.append(np.full(rep_len, g + 1, np.int64))
            repetitions.append(np.full(rep_len, r, np.int64))
    rest(rest_len)
    return Recording(
        emg=np.concatenate(emg),
        labels=np.concatenate(labels),
        repetitions=np.concatenate(repetitions),
        fs_hz=fs_hz,
        subject=str(subject),
        session="1",
        source=f"simulated subject {subject}",
    )
