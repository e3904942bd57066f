"""The redraw loop that fills a per-class quota of confident synthetic windows (design.md 5.4).

After generation the task-aware classifier must give each window p(k | x) >= ``confidence``;
windows below are dropped and new ones drawn until the quota is met, ``max_rounds`` rounds have
run or ``max_draws`` times the quota has been drawn. The last bound is for a class whose windows
the classifier hardly ever recognises: rounds alone let it cost up to 17 times its quota in
sampling for a handful of windows. This module only owns the loop: the caller's ``draw`` makes
candidates (conditions and generated windows) and ``accept`` is the window confidence filter.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np

Batch = dict[str, np.ndarray]


def fill_quota(
    draw: Callable[[int], Batch],
    accept: Callable[[Batch], np.ndarray],
    quota: int,
    max_rounds: int = 5,
    max_oversample: float = 4.0,
    max_draws: float | None = None,
    desc: str = "",
) -> tuple[Batch, int]:
    """Draw and filter candidates until ``quota`` rows are accepted or rounds run out.

    The first round asks ``draw`` for ``quota`` rows. Each later round asks for the rows still
    missing divided by the yield so far (accepted rows per requested row, so rows that ``draw``
    itself could not produce count as losses), at most ``max_oversample`` times the rows still
    missing; this usually fills the quota in two rounds instead of halving the gap per round.
    No round asks for more than what ``max_draws`` times the quota leaves.

    Parameters
    ----------
    draw : callable
        ``draw(n) -> dict`` of arrays with a common first dimension, including ``x``; it may
        return fewer than ``n`` rows.
    accept : callable
        ``accept(batch) -> bool mask`` of that first dimension (e.g. p(k | x) >= confidence).
    quota : int
        Rows wanted, >= 0.
    max_rounds : int
        Rounds of ``draw`` + ``accept``, >= 1.
    max_oversample : float
        Upper bound on requested / missing rows in one round, >= 1.
    max_draws : float, optional
        Upper bound on the rows requested in all rounds, in multiples of ``quota``, >= 1;
        None: no bound but the rounds.
    desc : str
        Names the quota in the warning (e.g. ``"class 3"``).

    Returns
    -------
    batch : dict
        Accepted rows in the order they were drawn, each array cut to exactly ``quota`` rows
        when the quota is met; an empty dict when ``quota`` is 0.
    n_missing : int
        ``quota`` minus the accepted rows; a warning says so when it is not 0.
    """
    if quota < 0:
        raise ValueError(f"quota must be >= 0, got {quota}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    if max_oversample < 1:
        raise ValueError(f"max_oversample must be >= 1, got {max_oversample}")
    if max_draws is not None and max_draws < 1:
        raise ValueError(f"max_draws must be >= 1, got {max_draws}")
    if quota == 0:
        return {}, 0

    budget = math.inf if max_draws is None else math.ceil(max_draws * quota)
    kept: list[Batch] = []
    n_kept = n_requested = n_accepted = rounds = 0
    while rounds < max_rounds and n_kept < quota and n_requested < budget:
        missing = quota - n_kept
        if n_requested == 0:
            n = missing
        else:
            rate = max(n_accepted / n_requested, 1.0 / max_oversample)
            n = min(math.ceil(missing / rate), budget - n_requested)
        batch = {name: np.asarray(value) for name, value in draw(n).items()}
        if "x" not in batch:
            raise ValueError(f"draw must return a dict with an 'x' array, got keys {list(batch)}")
        n_rows = len(batch["x"])
        if any(len(value) != n_rows for value in batch.values()):
            shapes = {name: value.shape for name, value in batch.items()}
            raise ValueError(f"draw returned arrays of different lengths: {shapes}")
        mask = np.asarray(accept(batch), dtype=bool)
        if mask.shape != (n_rows,):
            raise ValueError(f"accept must return a mask of shape ({n_rows},), got {mask.shape}")
        rows = np.flatnonzero(mask)[:missing]
        kept.append({name: value[rows] for name, value in batch.items()})
        n_requested += n
        n_accepted += int(mask.sum())
        n_kept += len(rows)
        rounds += 1

    out = {name: np.concatenate([b[name] for b in kept]) for name in kept[0]}
    n_missing = quota - n_kept
    if n_missing:
        where = f" for {desc}" if desc else ""
        warnings.warn(
            f"quota{where} not met: {n_missing} of {quota} rows missing after {rounds} "
            f"rounds ({n_accepted} of {n_requested} requested rows accepted)",
            stacklevel=2,
        )
    return out, n_missing
