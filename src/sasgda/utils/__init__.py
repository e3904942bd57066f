"""Small helpers used by every stage: seeding, device choice, atomic I/O, model files."""

from sasgda.utils.device import resolve_device
from sasgda.utils.io import (
    atomic_write_bytes,
    atomic_write_text,
    load_json,
    load_npz,
    save_json,
    save_npz,
)
from sasgda.utils.seeding import seed_everything

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "load_json",
    "load_npz",
    "resolve_device",
    "save_json",
    "save_npz",
    "seed_everything",
]
