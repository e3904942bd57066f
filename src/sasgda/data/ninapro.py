"""NinaPro loader: ``S<subject>_E<exercise>_A1.mat`` files of any NinaPro database.

Reads ``emg`` and the refined labels ``restimulus`` / ``rerepetition`` (falling back to
``stimulus`` / ``repetition`` when a file lacks them). MATLAB v7.3 files are HDF5 and are read
through the optional ``h5py`` extra. When several exercise files of one subject number their
gestures from 1 each (as the raw NinaPro files do), later exercises are offset so that no two
gestures share an id; files that already use distinct ids (MyoUP) are left as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

from sasgda.data.recording import Recording

_FILE_RE = re.compile(r"^S(\d+)_E(\d+)_A1\.mat$", re.IGNORECASE)


def find_ninapro_files(root: Path, subject: str) -> list[tuple[int, Path]]:
    """``(exercise, path)`` of every ``S<subject>_E<e>_A1.mat`` under ``root``, by exercise."""
    if root.is_file():
        candidates = [root]
    else:
        candidates = [p for p in root.rglob("*.mat") if p.is_file()]
    found = {}
    for path in candidates:
        match = _FILE_RE.match(path.name)
        if match and int(match.group(1)) == int(subject):
            exercise = int(match.group(2))
            if exercise in found:
                raise ValueError(
                    f"{root}: two files for subject {subject} exercise {exercise}: "
                    f"{found[exercise]} and {path}"
                )
            found[exercise] = path
    return sorted(found.items())


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    """The variables of a .mat file (v4-v7 through scipy, v7.3 through h5py)."""
    with open(path, "rb") as handle:
        head = handle.read(128)
    if head[:8] == b"\x89HDF\r\n\x1a\n" or b"MATLAB 7.3" in head:
        return _read_mat73(path)
    try:
        return scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises several types for garbage input
        raise ValueError(
            f"{path}: not a readable MATLAB file ({type(err).__name__}: {err})"
        ) from None


def _read_mat73(path: Path) -> dict[str, np.ndarray]:
    try:
        import h5py
    except ImportError:
        raise ValueError(
            f"{path}: is a MATLAB v7.3 (HDF5) file; install the extra: pip install 'sasgda[mat73]'"
        ) from None
    out = {}
    try:
        with h5py.File(path, "r") as handle:
            for key, item in handle.items():
                if isinstance(item, h5py.Dataset):
                    # MATLAB stores column-major: h5py sees the transpose.
                    out[key] = np.asarray(item).T
    except OSError as err:
        raise ValueError(f"{path}: not a readable MATLAB v7.3 file ({err})") from None
    return out


def _vector(mat: dict[str, np.ndarray], keys: tuple[str, ...], path: Path) -> np.ndarray:
    for key in keys:
        if key in mat:
            values = np.asarray(mat[key]).reshape(-1)
            # Labels and repetitions are counts: NaN would become a huge negative gesture id.
            if values.dtype.kind not in "iub" and not (
                np.isfinite(values).all() and (values == np.round(values)).all()
            ):
                raise ValueError(f"{path}: {key!r} holds values that are not whole numbers "
                                 "(NaN or fractions)")
            if (values < 0).any():
                raise ValueError(f"{path}: {key!r} holds negative values")
            return values
    raise ValueError(f"{path}: has no {' or '.join(repr(k) for k in keys)} variable")


def load_ninapro_file(path: Path, subject: str, exercise: int, fs_hz: float | None) -> Recording:
    """One exercise file as a :class:`Recording` (gesture ids as in the file)."""
    mat = _read_mat(path)
    if "emg" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: has no 'emg' variable (found: {', '.join(keys) or 'none'})")
    try:
        emg = np.asarray(mat["emg"], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: 'emg' does not hold numbers ({err})") from None
    labels = _vector(mat, ("restimulus", "stimulus"), path)
    repetitions = _vector(mat, ("rerepetition", "repetition"), path)
    if fs_hz is None:
        if "frequency" not in mat:
            raise ValueError(f"{path}: has no 'frequency' and the dataset sets no sampling rate")
        fs_hz = float(np.asarray(mat["frequency"]).reshape(-1)[0])
    return Recording(
        emg=emg,
        labels=labels,
        repetitions=repetitions,
        fs_hz=fs_hz,
        subject=subject,
        session=str(exercise),
        source=str(path),
    )


def load_ninapro(
    root: Path, subject: str, fs_hz: float | None = None,
    exercise_gestures: tuple[int, ...] = (),
) -> list[Recording]:
    """Every exercise of one subject, with gesture ids made distinct across exercises.

    ``exercise_gestures`` (the gestures of E1, E2, ... in the database) places an exercise
    numbered from 1 after the gestures of every earlier exercise, whether or not their files are
    there: a subject missing E1 still gets E2's gestures under the ids of everyone else's E2.
    Without it, an exercise whose ids overlap the earlier files' is shifted past them.
    """
    files = find_ninapro_files(root, subject)
    if not files:
        raise FileNotFoundError(f"{root}: no file S{subject}_E<e>_A1.mat for subject {subject}")
    recordings = []
    used: set[int] = set()
    for exercise, path in files:
        rec = load_ninapro_file(path, subject, exercise, fs_hz)
        ids = set(np.unique(rec.labels[rec.labels > 0]).tolist())
        offset = 0
        if 1 <= exercise <= len(exercise_gestures):
            before, count = sum(exercise_gestures[: exercise - 1]), exercise_gestures[exercise - 1]
            numbered_alone = ids <= set(range(1, count + 1))
            if numbered_alone and not ids <= set(range(before + 1, before + count + 1)):
                offset = before
        elif ids & used:
            # Raw NinaPro numbering restarts at 1 in every exercise: shift past the ids so far.
            offset = max(used)
        if offset:
            rec.labels = np.where(rec.labels > 0, rec.labels + offset, 0)
            ids = {i + offset for i in ids}
        if ids & used:
            raise ValueError(f"{path}: gesture ids {sorted(ids & used)} also occur in an "
                             f"earlier exercise file of subject {subject}")
        used |= ids
        recordings.append(rec)
    return recordings
