import numpy as np
import pytest

from sasgda.semantic.quota import fill_quota


def _fake(seed=0, shortfall=0):
    """A draw that makes random windows (numbered in draw order) and may return fewer rows."""
    rng = np.random.default_rng(seed)
    calls = []

    def draw(n):
        calls.append(n)
        rows = max(n - shortfall, 0)
        start = sum(max(c - shortfall, 0) for c in calls[:-1])
        return {"x": rng.normal(size=(rows, 2, 5)), "id": np.arange(start, start + rows)}

    return draw, calls


def accept_positive(batch):
    return batch["x"][:, 0, 0] > 0


def test_meets_quota_exactly_with_accepted_rows_only():
    draw, calls = _fake()
    batch, missing = fill_quota(draw, accept_positive, quota=300, max_rounds=5)
    assert missing == 0
    assert batch["x"].shape == (300, 2, 5) and batch["id"].shape == (300,)
    assert (batch["x"][:, 0, 0] > 0).all()
    assert len(np.unique(batch["id"])) == 300
    # The second round asks for the missing rows divided by the first round's yield.
    first = (np.random.default_rng(0).normal(size=(300, 2, 5))[:, 0, 0] > 0).sum()
    assert calls[0] == 300 and calls[1] == int(np.ceil((300 - first) / (first / 300)))
    assert len(calls) <= 3


def test_reports_missing_rows_when_nothing_passes():
    draw, calls = _fake()
    with pytest.warns(UserWarning, match=r"class 3 not met: 40 of 40 rows missing after 3"):
        batch, missing = fill_quota(
            draw, lambda b: np.zeros(len(b["x"]), bool), 40, 3, desc="class 3"
        )
    assert missing == 40 and batch["x"].shape == (0, 2, 5)
    assert len(calls) == 3 and calls[1:] == [160, 160]  # capped at max_oversample * missing


def test_max_draws_bounds_the_rows_requested_in_all_rounds():
    draw, calls = _fake()
    nothing = lambda b: np.zeros(len(b["x"]), bool)  # noqa: E731
    with pytest.warns(UserWarning, match=r"40 of 40 rows missing after 2 rounds \(0 of 100"):
        fill_quota(draw, nothing, 40, max_rounds=5, max_draws=2.5)
    assert calls == [40, 60]  # the second round gets what 2.5 x 40 leaves, and no third runs
    # A quota that fills within the bound is drawn as without it.
    bounded, bounded_calls = _fake()
    unbounded, unbounded_calls = _fake()
    assert fill_quota(bounded, accept_positive, 300, max_draws=4)[1] == 0
    fill_quota(unbounded, accept_positive, 300)
    assert bounded_calls == unbounded_calls
    with pytest.raises(ValueError, match="max_draws"):
        fill_quota(draw, accept_positive, 3, max_draws=0.5)


def test_partial_fill_and_short_draws():
    draw, calls = _fake(shortfall=10)
    with pytest.warns(UserWarning, match="rows missing"):
        batch, missing = fill_quota(draw, accept_positive, quota=100, max_rounds=1)
    assert len(calls) == 1 and 0 < missing < 100
    assert len(batch["x"]) == 100 - missing
    # With more rounds, rows lost inside draw are made up for too.
    draw, _ = _fake(shortfall=10)
    batch, missing = fill_quota(draw, accept_positive, quota=100, max_rounds=6)
    assert missing == 0 and len(batch["x"]) == 100


def test_edge_cases_and_errors():
    draw, calls = _fake()
    assert fill_quota(draw, accept_positive, 0) == ({}, 0) and calls == []
    with pytest.raises(ValueError, match="quota"):
        fill_quota(draw, accept_positive, -1)
    with pytest.raises(ValueError, match="'x'"):
        fill_quota(lambda n: {"w": np.zeros(n)}, accept_positive, 3)
    with pytest.raises(ValueError, match="mask of shape"):
        fill_quota(draw, lambda b: np.ones(2, bool), 3)
