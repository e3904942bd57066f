"""The `prepare` stage: recordings -> filtered, z-scored, leak-free windows (``windows.npz``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from sasgda.config import DataConfig, check_config
from sasgda.data.csvfiles import find_csv_sessions, load_csv
from sasgda.data.ninapro import _FILE_RE, load_ninapro
from sasgda.data.npzfiles import find_npz_files, load_npz
from sasgda.data.preprocess import apply_zscore, check_filters, filter_emg, fit_zscore
from sasgda.data.recording import Recording
from sasgda.data.registry import DatasetInfo, get_dataset
from sasgda.data.simulated import simulate_subject
from sasgda.data.windows import WindowSet, window_recording

PROTOCOLS = ("intra-subject", "cross-session", "cross-subject")


def load_subject(cfg: DataConfig, data_path: Path | None, subject: str) -> list[Recording]:
    """Every recording of one subject of ``cfg.dataset``, checked against the registry."""
    info = get_dataset(cfg.dataset)
    if info.loader in ("simulated", "ninapro") and not str(subject).isdigit():
        raise ValueError(f"--subject {subject!r}: {info.name} numbers its subjects (1 for "
                         "S1_E1_A1.mat); expected a positive integer")
    if info.loader == "simulated":
        if not 1 <= int(subject) <= cfg.sim_subjects:
            raise ValueError(f"--subject {subject}: the simulated dataset has subjects 1-"
                             f"{cfg.sim_subjects} (data.sim_subjects)")
        return [
            simulate_subject(
                int(subject),
                n_chans=cfg.sim_chans,
                fs_hz=cfg.sim_fs_hz,
                n_gestures=cfg.sim_gestures,
                n_repetitions=cfg.sim_repetitions,
                rep_seconds=cfg.sim_rep_seconds,
            )
        ]
    if data_path is None:
        raise ValueError(f"dataset {info.name} needs --data PATH ({info.files})")
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path}: no such file or directory")
    if info.loader == "ninapro":
        recordings = load_ninapro(data_path, subject, info.fs_hz, info.exercise_gestures)
    elif info.loader == "csv":
        recordings = load_csv(data_path, subject, info.fs_hz)
    elif info.loader == "npz":
        recordings = load_npz(data_path, subject)
    else:  # pragma: no cover - the registry only names the loaders above
        raise AssertionError(info.loader)
    for rec in recordings:
        if info.n_chans is not None and rec.n_chans != info.n_chans:
            raise ValueError(
                f"{rec.source}: has {rec.n_chans} channels but dataset {info.name} has "
                f"{info.n_chans}"
            )
    return recordings


def subject_key(subject: str) -> tuple[int, int, str]:
    """Sort key: numeric subjects in numeric order ("2" before "10"), then the others."""
    subject = str(subject)
    return (0, int(subject), "") if subject.isdigit() else (1, 0, subject)


def parse_subjects(text: str) -> list[str]:
    """``"1-8"``, ``"1,3,5"`` or ``"12345,21547"`` -> list of subject ids."""
    subjects: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part and all(p.strip().isdigit() for p in part.split("-", 1)):
            lo, hi = (int(p) for p in part.split("-", 1))
            if lo > hi:
                raise ValueError(f"--subjects {text!r}: range {part} is empty")
            subjects += [str(s) for s in range(lo, hi + 1)]
        else:
            subjects.append(part)
    if not subjects:
        raise ValueError(f"--subjects {text!r}: no subject")
    return subjects


def list_subjects(cfg: DataConfig, data_path: Path | None) -> list[str]:
    """Every subject present (for cross-subject protocols)."""
    info = get_dataset(cfg.dataset)
    if info.loader == "simulated":
        return [str(s) for s in range(1, cfg.sim_subjects + 1)]
    if data_path is None or not data_path.exists():
        raise FileNotFoundError(f"{data_path}: no such file or directory")
    if info.loader == "ninapro":
        ids = {int(m.group(1)) for p in data_path.rglob("*.mat") if (m := _FILE_RE.match(p.name))}
        return [str(s) for s in sorted(ids)]
    if info.loader == "csv":
        return sorted(find_csv_sessions(data_path))
    return sorted(find_npz_files(data_path))


def _protocol_roles(cfg: DataConfig, info: DatasetInfo, subject: str, recordings: list[Recording]):
    """The function that sends each (recording, repetition) to train or test."""
    if cfg.protocol not in info.protocols:
        raise ValueError(
            f"dataset {info.name} has no protocol {cfg.protocol!r} "
            f"(available: {', '.join(info.protocols)})"
        )
    if cfg.protocol == "intra-subject":
        test_reps = set(cfg.test_repetitions or info.test_repetitions)
        reps = sorted({int(r) for rec in recordings for r in np.unique(rec.repetitions) if r > 0})
        if len(reps) < 2:
            raise ValueError(f"subject {subject} has {len(reps)} numbered repetition(s) "
                             f"{reps}; the intra-subject protocol needs at least two, one to "
                             "train on and one to test on")
        if test_reps - set(reps):
            # A default that cannot apply as documented is an error, not a smaller test set.
            which = (f"data.test_repetitions={sorted(test_reps)}" if cfg.test_repetitions else
                     f"data.test_repetitions: {info.name}'s default test repetitions "
                     f"{sorted(test_reps)}")
            raise ValueError(f"{which}: subject {subject} has no repetition "
                             f"{sorted(test_reps - set(reps))} (it has {reps}); set "
                             "data.test_repetitions to the ones to test on")
        if not set(reps) - test_reps or not set(reps) & test_reps:
            raise ValueError(
                f"data.test_repetitions={sorted(test_reps)}: subject {subject} has repetitions "
                f"{reps}; the test repetitions must be some of them, not all"
            )
        return lambda rec, rep: "test" if rep in test_reps else "train"
    if cfg.protocol == "cross-session":
        sessions = sorted({r.session for r in recordings}, key=lambda s: (len(s), s))
        if cfg.test_sessions is not None:
            test = set(cfg.test_sessions)
            if not test or test - set(sessions):
                raise ValueError(f"data.test_sessions={list(cfg.test_sessions)}: subject "
                                 f"{subject} has sessions {sessions}")
            train = set(sessions) - test
        else:
            test = set(info.test_sessions) or {sessions[-1]}
            train = set(info.train_sessions) or set(sessions) - test
        if len(sessions) < 2 or not test & set(sessions) or not train & set(sessions):
            raise ValueError(
                f"subject {subject} of {info.name}: cross-session needs training sessions "
                f"{sorted(train)} and test sessions {sorted(test)}; found {sessions}"
            )
        return lambda rec, rep: "test" if rec.session in test else (
            "train" if rec.session in train else None
        )
    # cross-subject: the subject is the test set, everyone else trains.
    return lambda rec, rep: "test" if rec.subject == str(subject) else "train"


def prepare_windows(
    cfg: DataConfig, data_path: str | Path | None, subject: str | int
) -> dict[str, np.ndarray]:
    """Load, filter, window, split and normalise one subject's data.

    Returns the arrays of ``windows.npz``: ``x`` (N, C, L) float32 z-scored, ``y`` (N,) class
    index from 0, ``label`` (N,) original gesture id, ``repetition`` (N,), ``split`` (N,)
    ``train``/``val``/``test``, ``session`` (N,), ``classes`` (original ids in class-index
    order), ``fs_hz``, ``norm_mean`` and ``norm_std`` (C,). Nothing is random: the same
    input gives the same arrays.
    """
    info = get_dataset(cfg.dataset)
    subject = str(subject)
    data_path = Path(data_path) if data_path not in (None, "") else None
    if cfg.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {cfg.protocol!r} (valid: {', '.join(PROTOCOLS)})")
    check_config(cfg, "data")

    recordings = load_subject(cfg, data_path, subject)
    if cfg.protocol == "cross-subject":
        others = [s for s in list_subjects(cfg, data_path) if s != subject]
        if not others:
            raise ValueError(f"{data_path}: cross-subject needs other subjects than {subject}")
        for other in others:
            recordings += load_subject(cfg, data_path, other)
    role_of = _protocol_roles(cfg, info, subject, recordings)

    fs_hz = recordings[0].fs_hz
    if any(r.fs_hz != fs_hz for r in recordings):
        raise ValueError(f"subject {subject}: recordings have different sampling rates")
    for rec in recordings[1:]:
        if rec.n_chans != recordings[0].n_chans:
            raise ValueError(f"{rec.source or subject}: {rec.n_chans} channels, but "
                             f"{recordings[0].source or subject} has {recordings[0].n_chans}")
    bandpass = info.bandpass_hz if cfg.bandpass_hz is None else cfg.bandpass_hz
    notch = info.notch_hz if cfg.notch_hz is None else cfg.notch_hz
    check_filters(bandpass, notch, fs_hz, info.name)
    window = int(round(cfg.window_ms * fs_hz / 1000))
    step = int(round(cfg.step_ms * fs_hz / 1000))
    if window < 2 or step < 1:
        raise ValueError(
            f"data.window_ms={cfg.window_ms:g} / data.step_ms={cfg.step_ms:g} give "
            f"{window} / {step} samples at {fs_hz:g} Hz; need a window of >= 2 and a step >= 1"
        )

    parts, longest = [], 0
    for rec in recordings:
        rec.emg = filter_emg(rec.emg, fs_hz, bandpass, notch)
        part, seg_longest = window_recording(
            rec, role_of, window, step, cfg.include_rest, cfg.val_fraction
        )
        parts.append(part)
        longest = max(longest, seg_longest)
    ws = WindowSet.concat(parts, recordings[0].n_chans, window)
    if len(ws.x) == 0 or not (ws.split == "train").any():
        where = data_path if data_path is not None else info.name
        raise ValueError(
            f"{where}: window of {window} samples ({cfg.window_ms:g} ms at {fs_hz:g} Hz) is "
            f"longer than every usable segment (longest: {longest} samples)"
        )

    ws = _drop_one_sided_gestures(ws)
    classes = np.unique(ws.label)
    y = np.searchsorted(classes, ws.label).astype(np.int64)
    mean, std = fit_zscore(ws.x[ws.split == "train"])
    return {
        "x": apply_zscore(ws.x, mean, std),
        "y": y,
        "label": ws.label.astype(np.int64),
        "repetition": ws.repetition.astype(np.int64),
        "split": ws.split,
        "session": ws.session,
        "classes": classes.astype(np.int64),
        "fs_hz": np.float64(fs_hz),
        "norm_mean": mean,
        "norm_std": std,
    }


def _drop_one_sided_gestures(ws: WindowSet) -> WindowSet:
    """Drop gestures with windows in only one of the train and test parts, saying so."""
    train = set(np.unique(ws.label[ws.split == "train"]).tolist())
    test = set(np.unique(ws.label[ws.split == "test"]).tolist())
    for gesture in sorted(train ^ test):
        where = "train" if gesture in train else "test"
        warnings.warn(
            f"gesture {gesture} has windows only in the {where} part; dropped", stacklevel=3
        )
    keep = np.isin(ws.label, sorted(train & test))
    if len(train & test) < 2:
        raise ValueError(f"{len(train & test)} gesture(s) with windows in both the train and the "
                         "test part; a classifier needs at least two")
    return WindowSet(
        ws.x[keep], ws.label[keep], ws.repetition[keep], ws.split[keep], ws.session[keep]
    )


def summarize_windows(arrays: dict[str, np.ndarray]) -> str:
    """The summary `sasgda prepare` prints: the split it made (sessions, repetitions and windows
    per class of each part), the classes, C, L and fs."""
    x, y, split = arrays["x"], arrays["y"], arrays["split"]
    n_classes = len(arrays["classes"])
    lines = ["| split | sessions | repetitions | windows | windows per class (min-max) |",
             "|---|---|---|---|---|"]
    for part in ("train", "val", "test"):
        mask = split == part
        if not mask.any():
            continue
        sessions = ", ".join(sorted(map(str, np.unique(arrays["session"][mask])), key=len))
        reps = ", ".join(str(r) for r in np.unique(arrays["repetition"][mask]))
        counts = np.bincount(y[mask], minlength=n_classes)
        lines.append(f"| {part} | {sessions} | {reps} | {int(mask.sum())} | "
                     f"{counts.min()}-{counts.max()} |")
    return "\n".join([
        *lines,
        f"classes: {n_classes} (gesture ids {arrays['classes'].tolist()})",
        f"channels C = {x.shape[1]}, window L = {x.shape[2]} samples, "
        f"fs = {float(arrays['fs_hz']):g} Hz",
    ])
