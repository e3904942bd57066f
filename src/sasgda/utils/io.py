"""Atomic writes and small readers: a crash never leaves a half-written artifact behind."""

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Save ``obj`` as indented JSON (NumPy values converted), atomically."""
    return atomic_write_text(path, json.dumps(_to_jsonable(obj), indent=2) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a damaged one is a one-line error naming it, the line and the problem."""
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: line {err.lineno} column {err.colno}: "
                             f"{err.msg}") from None


def load_json_if(path: str | os.PathLike) -> dict:
    """Read a JSON file, or ``{}`` when there is none yet."""
    return load_json(path) if Path(path).is_file() else {}


def save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Save arrays as an uncompressed ``.npz`` atomically.

    ``np.savez`` writes zip entries without timestamps that vary, so the same arrays give
    byte-identical files, which the determinism tests rely on.
    """
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buffer.getvalue())


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` into a plain dict (the file is closed on return)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: damaged or not an .npz file ({err})") from None
