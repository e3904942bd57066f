"""Generic ``.npz`` loader: the format users convert any other dataset into.

One file per recording, named ``<subject>.npz`` or ``<subject>_<session>.npz``, holding
``emg`` (T, C), ``labels`` (T,) with 0 = rest, ``repetitions`` (T,) with 0 = rest and a scalar
``fs_hz``. Every protocol works on it: intra-subject splits by repetition, cross-session tests on
the last session, cross-subject leaves one subject out.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sasgda.data.recording import Recording

_NAME_RE = re.compile(r"^(?P<subject>[^_]+)(?:_(?P<session>[^_]+))?\.npz$")
REQUIRED_KEYS = ("emg", "labels", "repetitions", "fs_hz")


def find_npz_files(root: Path, subject: str | None = None) -> dict[str, dict[str, Path]]:
    """``{subject: {session: path}}`` for the ``.npz`` files directly in ``root``."""
    paths = [root] if root.is_file() else sorted(root.glob("*.npz"))
    out: dict[str, dict[str, Path]] = {}
    for path in paths:
        match = _NAME_RE.match(path.name)
        if not match:
            continue
        subj, session = match.group("subject"), match.group("session") or "1"
        if subject is None or subj == str(subject):
            out.setdefault(subj, {})[session] = path
    return out


def load_npz_file(path: Path, subject: str, session: str) -> Recording:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as err:
        raise ValueError(
            f"{path}: not a readable .npz file ({type(err).__name__}: {err})"
        ) from None
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array(s) {', '.join(missing)}")
    if arrays["fs_hz"].size != 1:
        raise ValueError(f"{path}: fs_hz must be one number, got shape {arrays['fs_hz'].shape}")
    return Recording(
        emg=arrays["emg"],
        labels=arrays["labels"],
        repetitions=arrays["repetitions"],
        fs_hz=float(arrays["fs_hz"].reshape(-1)[0]),
        subject=subject,
        session=session,
        source=str(path),
    )


def load_npz(root: Path, subject: str) -> list[Recording]:
    sessions = find_npz_files(root, subject).get(str(subject), {})
    if not sessions:
        raise FileNotFoundError(f"{root}: no {subject}.npz or {subject}_<session>.npz file")
    return [load_npz_file(path, str(subject), s) for s, path in sorted(sessions.items())]
