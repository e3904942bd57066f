"""Known datasets and their defaults: channels, sampling rate, filters, split, file layout."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetInfo:
    """What `sasgda` knows about a dataset before reading any file.

    ``n_chans`` / ``fs_hz`` of ``None`` mean "read from the files" (generic formats).
    """

    name: str
    loader: str  # ninapro | csv | npz | simulated
    description: str
    n_chans: int | None
    fs_hz: float | None
    n_gestures: int | None
    n_repetitions: int | None
    subjects: str
    protocols: tuple[str, ...]
    files: str  # where its files are expected, for `sasgda datasets` and error messages
    bandpass_hz: tuple[float, ...] = ()  # default band-pass; () = none
    notch_hz: float = 0.0  # default mains notch; 0 = none
    test_repetitions: tuple[int, ...] = (2, 5)  # intra-subject test repetitions
    train_sessions: tuple[str, ...] = ()  # cross-session split
    test_sessions: tuple[str, ...] = ()
    # NinaPro: gestures of exercise 1, 2, ... (the raw files number each exercise from 1)
    exercise_gestures: tuple[int, ...] = ()
    notes: str = field(default="")


_NINAPRO_2KHZ = dict(
    loader="ninapro",
    n_chans=12,
    fs_hz=2000.0,
    n_repetitions=6,
    protocols=("intra-subject", "cross-subject"),
    bandpass_hz=(20.0, 450.0),
    notch_hz=50.0,
)

DATASETS: dict[str, DatasetInfo] = {
    "db2": DatasetInfo(
        name="db2",
        exercise_gestures=(17, 23, 9),
        description="NinaPro DB2: Delsys Trigno, 40 intact subjects",
        n_gestures=49,
        subjects="1-40",
        files="<data>/**/S<s>_E<e>_A1.mat (E1-E3), from the NinaPro site",
        **_NINAPRO_2KHZ,
    ),
    "db4": DatasetInfo(
        name="db4",
        exercise_gestures=(12, 17, 23),
        description="NinaPro DB4: Cometa, 10 intact subjects",
        n_gestures=52,
        subjects="1-10",
        files="<data>/**/S<s>_E<e>_A1.mat (E1-E3), from the NinaPro site",
        **_NINAPRO_2KHZ,
    ),
    "db7": DatasetInfo(
        name="db7",
        exercise_gestures=(17, 23),
        description="NinaPro DB7: Delsys Trigno, 20 intact + 2 amputee subjects",
        n_gestures=40,
        subjects="1-22",
        files="<data>/**/S<s>_E<e>_A1.mat (E1-E2), from the NinaPro site",
        **_NINAPRO_2KHZ,
    ),
    "db5": DatasetInfo(
        name="db5",
        exercise_gestures=(12, 17, 23),
        loader="ninapro",
        description="NinaPro DB5: two Myo armbands, 10 intact subjects",
        n_chans=16,
        fs_hz=200.0,
        n_gestures=52,
        n_repetitions=6,
        subjects="1-10",
        protocols=("intra-subject", "cross-subject"),
        files="<data>/**/S<s>_E<e>_A1.mat (E1-E3), from the NinaPro site",
        notes="the Myo filters on board; no band-pass at 200 Hz",
    ),
    "myoup": DatasetInfo(
        name="myoup",
        exercise_gestures=(5, 12, 5),
        loader="ninapro",
        description="MyoUP (Tsagkas et al., IISA 2019) in the NinaPro layout, Myo armband",
        n_chans=8,
        fs_hz=200.0,
        n_gestures=22,
        n_repetitions=5,
        subjects="1-8",
        protocols=("intra-subject", "cross-subject"),
        files="<data>/S<s>_E<e>_A1.mat; here: ../shared/data/myoup-ninapro",
        notes="subject 2 has no exercise 2 (10 gestures)",
    ),
    "myo-readings": DatasetInfo(
        name="myo-readings",
        loader="csv",
        description="myo-readings (A. Francic, MIT): 7 wrist gestures + rest, Myo armband",
        n_chans=8,
        fs_hz=200.0,
        n_gestures=7,
        n_repetitions=6,
        subjects="12345 21547 45612 54321 78945",
        protocols=("intra-subject", "cross-session", "cross-subject"),
        files="<data>/**/<participant>-<session>/<gesture>.txt; here: ../shared/data/myo-readings",
        train_sessions=("1", "2"),
        test_sessions=("3",),
    ),
    "npz": DatasetInfo(
        name="npz",
        loader="npz",
        description="generic arrays: emg (T,C), labels (T,), repetitions (T,), fs_hz",
        n_chans=None,
        fs_hz=None,
        n_gestures=None,
        n_repetitions=None,
        subjects="any",
        protocols=("intra-subject", "cross-session", "cross-subject"),
        files="<data>/<subject>.npz or <data>/<subject>_<session>.npz",
        notes="cross-session tests on the last session and trains on the others",
    ),
    "simulated": DatasetInfo(
        name="simulated",
        loader="simulated",
        description="built-in SIMULATED sEMG-like data (not real recordings), for demo and tests",
        n_chans=8,
        fs_hz=200.0,
        n_gestures=8,
        n_repetitions=6,
        subjects="1-4",
        protocols=("intra-subject", "cross-subject"),
        files="none: generated in memory (sizes from data.sim_* settings)",
    ),
}


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry for ``name``, or a ValueError listing the known names."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[name]


def _split_defaults(info: DatasetInfo) -> str:
    """What each protocol tests on unless data.test_repetitions / data.test_sessions say."""
    parts = []
    if "intra-subject" in info.protocols:
        reps = ", ".join(map(str, info.test_repetitions))
        parts.append(f"intra-subject tests on repetitions {reps} (data.test_repetitions)")
    if "cross-session" in info.protocols:
        test = ", ".join(info.test_sessions) or "the last (by name length, then name)"
        parts.append(f"cross-session tests on session {test} (data.test_sessions)")
    if "cross-subject" in info.protocols:
        parts.append("cross-subject tests on the subject, trains on the others")
    return "; ".join(parts)


def describe_datasets() -> str:
    """A table of every known dataset, as `sasgda datasets` prints it."""

    def show(value: object) -> str:
        return "from files" if value is None else str(value)

    lines = []
    for info in DATASETS.values():
        fs = "from files" if info.fs_hz is None else f"{info.fs_hz:g} Hz"
        filters = []
        if info.bandpass_hz:
            filters.append(f"band-pass {info.bandpass_hz[0]:g}-{info.bandpass_hz[1]:g} Hz")
        if info.notch_hz:
            filters.append(f"notch {info.notch_hz:g} Hz")
        lines += [
            f"{info.name}: {info.description}",
            f"  channels: {show(info.n_chans)}   sampling rate: {fs}   "
            f"gestures: {show(info.n_gestures)}   repetitions: {show(info.n_repetitions)}",
            f"  subjects: {info.subjects}   protocols: {', '.join(info.protocols)}",
            f"  defaults: {_split_defaults(info)}",
            f"  filters: {', '.join(filters) or 'none'}   files: {info.files}",
        ]
        if info.notes:
            lines.append(f"  note: {info.notes}")
    return "\n".join(lines)
