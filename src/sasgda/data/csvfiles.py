"""CSV loader for the myo-readings layout: ``<participant>-<session>/<gesture>.txt`` files.

Each row is ``ch1,...,chC,label``. Inside a file the label alternates between 0 (rest) and the
file's gesture; every contiguous gesture block is numbered as a repetition (1, 2, ...). A
rest-only file (``0.txt``) is cut into blocks of the typical block length, numbered the same
way, so that rest can be split by repetition too when it is included as a class.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sasgda.data.recording import Recording

_DIR_RE = re.compile(r"^(.+)-(\d+)$")


def find_csv_sessions(root: Path, subject: str | None = None) -> dict[str, dict[str, Path]]:
    """``{subject: {session: folder}}`` of every ``<subject>-<session>`` folder under ``root``."""
    out: dict[str, dict[str, Path]] = {}
    for folder in sorted(p for p in [root, *root.rglob("*")] if p.is_dir()):
        match = _DIR_RE.match(folder.name)
        if not match or not any(folder.glob("*.txt")) and not any(folder.glob("*.csv")):
            continue
        subj, session = match.group(1), match.group(2)
        if subject is None or subj == str(subject):
            out.setdefault(subj, {})[session] = folder
    return out


def _read_table(path: Path) -> np.ndarray:
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: not a numeric CSV table ({err})") from None
    if table.shape[0] == 0 or table.shape[1] < 2:
        raise ValueError(f"{path}: expected rows of channel values followed by a label column")
    return table


def _number_blocks(labels: np.ndarray, block_len: int) -> np.ndarray:
    """Repetition numbers: contiguous gesture blocks 1, 2, ...; rest 0 (or chunks if all rest)."""
    repetitions = np.zeros(len(labels), dtype=np.int64)
    active = labels != 0
    if active.any():
        starts = np.flatnonzero(np.diff(active.astype(np.int8), prepend=0) == 1)
        block_id = np.cumsum(np.isin(np.arange(len(labels)), starts))
        repetitions[active] = block_id[active]
    else:
        repetitions[:] = np.arange(len(labels)) // max(block_len, 1) + 1
    return repetitions


def load_csv_session(folder: Path, subject: str, session: str, fs_hz: float) -> list[Recording]:
    """Every gesture file of one session folder."""
    files = sorted(
        [*folder.glob("*.txt"), *folder.glob("*.csv")],
        key=lambda p: (not p.stem.isdigit(), int(p.stem) if p.stem.isdigit() else 0, p.name),
    )
    recordings = []
    for path in files:
        table = _read_table(path)
        labels = table[:, -1]
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{path}: the last column (label) must hold whole numbers")
        labels = labels.astype(np.int64)
        # The file's name is its gesture: another label inside it means a mislabelled file.
        others = sorted(set(np.unique(labels[labels != 0]).tolist()) - {int(path.stem)}) \
            if path.stem.isdigit() else []
        if others:
            raise ValueError(f"{path}: labels {others} inside the file of gesture {path.stem} "
                             "(each <gesture>.txt holds that gesture and rest, 0)")
        # Rest-only files are cut into blocks of the protocol's 5 s.
        block_len = int(round(5.0 * fs_hz))
        recordings.append(
            Recording(
                emg=table[:, :-1],
                labels=labels,
                repetitions=_number_blocks(labels, block_len),
                fs_hz=fs_hz,
                subject=subject,
                session=session,
                source=str(path),
            )
        )
    return recordings


def load_csv(root: Path, subject: str, fs_hz: float) -> list[Recording]:
    """Every session of one participant."""
    sessions = find_csv_sessions(root, subject).get(str(subject), {})
    if not sessions:
        raise FileNotFoundError(
            f"{root}: no <participant>-<session> folder with .txt/.csv files for subject {subject}"
        )
    recordings = []
    for session, folder in sorted(sessions.items(), key=lambda kv: int(kv[0])):
        recordings.extend(load_csv_session(folder, str(subject), session, fs_hz))
    return recordings
