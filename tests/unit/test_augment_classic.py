import numpy as np
import pytest

from sasgda.augment import classic
from sasgda.augment.classic import CLASSIC_AUGMENTATIONS, classic_augment


def _windows(n=12, n_chans=4, n_times=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_chans, n_times)).astype(np.float32)
    y = np.arange(n) % 3
    return x, y


@pytest.mark.parametrize("name", sorted(CLASSIC_AUGMENTATIONS))
def test_keeps_shape_dtype_changes_data_and_is_deterministic(name):
    x, _ = _windows()
    original = x.copy()
    out = CLASSIC_AUGMENTATIONS[name](x, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(x, original)  # input untouched
    changed = ~np.isclose(out, x).all(axis=(1, 2))
    assert changed.all(), f"{name} left windows {np.flatnonzero(~changed)} unchanged"
    np.testing.assert_array_equal(out, CLASSIC_AUGMENTATIONS[name](x, np.random.default_rng(1)))
    assert not np.array_equal(out, CLASSIC_AUGMENTATIONS[name](x, np.random.default_rng(2)))


def test_jitter_hits_the_requested_snr():
    x, _ = _windows(n=200, n_times=256)
    x *= np.random.default_rng(3).uniform(0.1, 10, size=(200, 1, 1)).astype(np.float32)
    noise = classic.jitter(x, np.random.default_rng(0), snr_db=20.0) - x
    snr = 10 * np.log10((x**2).mean(axis=(1, 2)) / (noise**2).mean(axis=(1, 2)))
    assert abs(snr.mean() - 20.0) < 0.2 and snr.std() < 0.5


def test_scaling_and_magnitude_warp_are_gains_around_one():
    x = np.ones((50, 4, 64), dtype=np.float32)
    gains = classic.scaling(x, np.random.default_rng(0), sigma=0.1)
    assert np.ptp(gains, axis=2).max() == 0  # one gain per channel
    assert abs(gains.mean() - 1) < 0.02 and 0.07 < gains[:, :, 0].std() < 0.13
    curves = classic.magnitude_warp(x, np.random.default_rng(0))
    assert abs(curves.mean() - 1) < 0.05
    # Smooth: sample-to-sample changes are far below the spread (white noise: above it).
    assert np.abs(np.diff(curves, axis=2)).mean() < 0.2 * curves.std()


def test_time_distortions_are_monotone_and_keep_the_range():
    ramp = np.tile(np.arange(64, dtype=np.float32), (20, 2, 1))
    for fn in (classic.time_warp, classic.window_slice, classic.window_warp):
        out = fn(ramp, np.random.default_rng(0))
        assert (np.diff(out, axis=2) >= -1e-4).all(), fn.__name__
        assert out.min() >= 0 and out.max() <= 63
        np.testing.assert_array_equal(out[:, 0], out[:, 1])  # one warp for all channels
    warped = classic.time_warp(ramp, np.random.default_rng(0))
    np.testing.assert_allclose(warped[:, :, [0, -1]], ramp[:, :, [0, -1]], atol=1e-4)
    sliced = classic.window_slice(ramp, np.random.default_rng(0), ratio=0.9)
    np.testing.assert_allclose(np.ptp(sliced, axis=2), round(0.9 * 64) - 1, atol=1e-4)


def test_permutation_shuffles_time_samples():
    x, _ = _windows()
    out = classic.permutation(x, np.random.default_rng(0))
    np.testing.assert_array_equal(np.sort(out, axis=2), np.sort(x, axis=2))


def test_channel_rotation_shifts_ring_by_one():
    x, _ = _windows(n_chans=6)
    out = classic.channel_rotation(x, np.random.default_rng(0), ring_chans=4)
    np.testing.assert_array_equal(out[:, 4:], x[:, 4:])
    for window, rotated in zip(x, out, strict=True):
        assert any(np.array_equal(rotated[:4], np.roll(window[:4], s, axis=0)) for s in (-1, 1))
    with pytest.raises(ValueError, match="ring_chans"):
        classic.channel_rotation(x, np.random.default_rng(0), ring_chans=7)


def test_mixup_stays_closer_to_the_original():
    x = np.zeros((100, 2, 8), dtype=np.float32)
    partners = np.ones((5, 2, 8), dtype=np.float32)
    out = classic.mixup(x, np.random.default_rng(0), partners=partners)
    weights = out[:, 0, 0]  # 1 - lambda
    assert (weights <= 0.5).all() and (weights > 0).all()
    np.testing.assert_allclose(out, np.broadcast_to(weights[:, None, None], out.shape))


@pytest.mark.parametrize("name", sorted(CLASSIC_AUGMENTATIONS))
def test_classic_augment_gives_n_balanced_windows(name):
    x, y = _windows(n=30)
    y = np.repeat([0, 1, 2], [20, 7, 3])  # unbalanced classes
    x_new, y_new = classic_augment(name, x, y, 50, np.random.default_rng(0))
    assert x_new.shape == (50, 4, 64) and x_new.dtype == np.float32 and y_new.dtype == np.int64
    counts = np.bincount(y_new, minlength=3)
    assert counts.sum() == 50 and counts.max() - counts.min() <= 1
    again = classic_augment(name, x, y, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(x_new, again[0])
    np.testing.assert_array_equal(y_new, again[1])


def test_classic_augment_labels_follow_their_sources():
    # Windows are constant at 10 * label + a per-window offset below 1, so an augmented window
    # whose values stay within [10 k, 10 k + 1) came from (and was mixed within) class k.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    x = (10 * y + rng.uniform(0, 0.9, size=30))[:, None, None] * np.ones((1, 3, 16))
    for name in ("mixup", "permutation", "time_warp"):
        x_new, y_new = classic_augment(name, x, y, 60, np.random.default_rng(1))
        assert (np.floor(x_new / 10) == y_new[:, None, None]).all(), name


def test_classic_augment_errors_and_empty():
    x, y = _windows()
    with pytest.raises(ValueError, match="valid names: jitter, scaling"):
        classic_augment("cutout", x, y, 5, np.random.default_rng(0))
    x_new, y_new = classic_augment("jitter", x, y, 0, np.random.default_rng(0))
    assert x_new.shape == (0, 4, 64) and y_new.shape == (0,)
