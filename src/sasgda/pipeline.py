"""Stages chained over a run directory.

Each stage reads the artifacts of the stages before it from the run directory, calls the library
function that does the work on arrays, and writes its own artifacts atomically. The CLI only
parses arguments and calls these.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sasgda.config import Config, dump_yaml
from sasgda.data import prepare_windows, summarize_windows
from sasgda.utils.io import load_npz, save_npz
from sasgda.utils.rundir import RunDir

log = logging.getLogger("sasgda")


def start_run(cfg: Config, run: RunDir, device: str) -> None:
    """Save the resolved config and the environment in the run directory."""
    run.root.mkdir(parents=True, exist_ok=True)
    run.write_config(dump_yaml(cfg))
    run.record_environment(cfg.seed, device)


def prepare(cfg: Config, run: RunDir, data_path: str | Path | None, subject: str) -> dict:
    """`sasgda prepare`: write ``data/windows.npz`` and return its arrays."""
    with run.timed("prepare"):
        arrays = prepare_windows(cfg.data, data_path, subject)
        save_npz(run.windows, **arrays)
    run.update_info(
        dataset=cfg.data.dataset,
        data_path=str(Path(data_path).resolve()) if data_path else None,
        subject=str(subject),
        protocol=cfg.data.protocol,
    )
    log.info("%s\nwrote %s", summarize_windows(arrays), run.windows)
    return arrays


def load_windows(run: RunDir) -> dict:
    """The arrays of ``data/windows.npz``."""
    return load_npz(run.require(run.windows, "prepare"))
