"""The stage table and the one runner that decides what is current.

Each row of :data:`STAGES` says, for one kind of stage, which stages it reads, which settings
make its artifacts, which artifacts it writes (inside the run directory) and which command makes
them. A stage's name is its kind and its parameter: ``generate-sass``, ``train-generator-label``,
``downstream-cnn-gmss``. When a stage finishes, :func:`finish` writes its record,
``records/<name>.json`` (atomically, one file per stage, so that concurrent commands never
overwrite each other's records): the settings, the fingerprints of the inputs it read, the size
and sha256 of each artifact, and its wall time. Everything else follows from the records:

- a stage is *current* when its record's settings are the run's present ones, the inputs it read
  are the records now on disk, and those inputs are current too (:func:`stale_reason`);
- `sasgda run` skips current stages (:func:`is_fresh`); a single-stage command refuses an input
  that is not current, naming the first setting that changed and the command that remakes it,
  and one whose artifact changed since it was written (:func:`require`);
- the report leaves out results whose inputs were remade after them (:func:`outdated`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sasgda.config import Config, replace, to_dict, upgrade
from sasgda.semantic.synthesis import STRATEGIES, condition_of
from sasgda.utils.io import load_json, save_json
from sasgda.utils.rundir import RunDir, generator_folder


def settings_of(**parts: Any) -> dict[str, Any]:
    """Config sections and values as flat ``section.key: value`` pairs (YAML-friendly)."""
    flat: dict[str, Any] = {}
    for name, part in parts.items():
        value = to_dict(part) if hasattr(part, "__dataclass_fields__") else part
        if isinstance(value, dict):
            flat.update({f"{name}.{k}": v for k, v in settings_of(**value).items()})
        else:
            flat[name] = value
    return flat


def fingerprint(*parts: Any) -> str:
    """A short stable hash of settings and upstream fingerprints."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def downstream_section(cfg: Config, param: str):
    """The downstream section of stage ``downstream-<backbone>-<augment>``."""
    backbone, augment = param.split("-", 1)
    return replace(cfg.downstream, backbone=backbone, augment=augment)


def _downstream_inputs(param: str) -> tuple[str, ...]:
    augment = param.split("-", 1)[1]
    return ("prepare", *([f"generate-{augment}"] if augment in STRATEGIES else []))


# The files of a saved model (sasgda.utils.modelio).
MODEL_FILES = ("model.safetensors", "config.json")


@dataclass(frozen=True)
class Stage:
    """One row of the stage table; each field is a function of the stage's parameter."""

    inputs: Callable[[str], tuple[str, ...]]
    settings: Callable[[Config, str], dict[str, Any]]
    artifacts: Callable[[str], tuple[str, ...]]  # the first one marks the stage as made
    command: Callable[[str], str]


STAGES: dict[str, Stage] = {
    "prepare": Stage(
        inputs=lambda _: (),
        settings=lambda cfg, _: settings_of(data=cfg.data),
        artifacts=lambda _: ("data/windows.npz",),
        command=lambda _: "prepare"),
    "train-classifier": Stage(
        inputs=lambda _: ("prepare",),
        settings=lambda cfg, _: settings_of(classifier=cfg.classifier, seed=cfg.seed),
        artifacts=lambda _: ("semantic/features.npz", *(f"classifier/{f}" for f in MODEL_FILES),
                             "classifier/metrics.json", "classifier/metrics.jsonl"),
        command=lambda _: "train-classifier"),
    "train-generator": Stage(
        inputs=lambda c: ("train-classifier",) if c == "semantic" else ("prepare",),
        settings=lambda cfg, c: settings_of(generator=replace(cfg.generator, condition=c),
                                            seed=cfg.seed),
        artifacts=lambda c: tuple(f"{generator_folder(c)}/{f}" for f in (
            "ema.safetensors", *MODEL_FILES, "scheduler_config.json", "metrics.jsonl")),
        command=lambda c: f"train-generator --condition {c}"),
    "generate": Stage(
        inputs=lambda s: ("prepare", "train-classifier", f"train-generator-{condition_of(s)}"),
        settings=lambda cfg, s: settings_of(
            sampler=cfg.sampler, seed=cfg.seed,
            **({"conditions": cfg.conditions} if s in ("gmss", "sass") else {})),
        artifacts=lambda s: (f"synthetic/{s}.npz",),
        command=lambda s: f"generate --strategy {s}"),
    "downstream": Stage(
        inputs=_downstream_inputs,
        settings=lambda cfg, p: settings_of(downstream=downstream_section(cfg, p),
                                            seed=cfg.seed),
        artifacts=lambda p: tuple(f"downstream/{p}/{f}" for f in (
            "metrics.json", *MODEL_FILES, "metrics.jsonl")),
        command=lambda p: "train-downstream --backbone {} --augment {}".format(*p.split("-", 1))),
    "evaluator": Stage(
        inputs=lambda _: ("prepare",),
        settings=lambda cfg, _: settings_of(evaluate=cfg.evaluate, seed=cfg.seed),
        artifacts=lambda _: tuple(f"evaluator/{f}" for f in MODEL_FILES),
        command=lambda _: "evaluate"),
    "evaluate": Stage(
        inputs=lambda s: (f"generate-{s}", "evaluator"),
        settings=lambda cfg, _: settings_of(evaluate=cfg.evaluate),
        artifacts=lambda _: (),
        command=lambda _: "evaluate"),
}


def parse(name: str) -> tuple[str, str]:
    """``generate-sass`` -> (``"generate"``, ``"sass"``): the row of the table and the
    parameter."""
    for kind in sorted(STAGES, key=len, reverse=True):
        if name == kind or name.startswith(kind + "-"):
            return kind, name[len(kind) + 1:]
    raise KeyError(f"no stage {name!r}")


def split_name(name: str) -> tuple[Stage, str]:
    """``generate-sass`` -> (the ``generate`` row, ``"sass"``)."""
    kind, param = parse(name)
    return STAGES[kind], param


def artifact(run: RunDir, name: str) -> Path:
    stage, param = split_name(name)
    return run.root / stage.artifacts(param)[0]


# --- records -------------------------------------------------------------------------------------


def record_path(run: RunDir, name: str) -> Path:
    return run.root / "records" / f"{name}.json"


def record(run: RunDir, name: str) -> dict[str, Any] | None:
    """The record of ``name``, or None when it has none."""
    path = record_path(run, name)
    if not path.is_file():
        return None
    try:
        rec = load_json(path)
    except ValueError as err:
        stage, param = split_name(name)
        raise ValueError(f"{err}; delete it and run `sasgda {stage.command(param)}` "
                         "again") from None
    return {**rec, "settings": upgrade(rec["settings"], say=False)}


def _fingerprint_of(run: RunDir, name: str) -> str:
    rec = record(run, name)
    return rec["fingerprint"] if rec else ""


def _sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    # Cached by size and modification time: `ensure` checks the same inputs for every stage.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _new_record(run: RunDir, name: str, cfg: Config, extra: dict[str, Any] | None) -> dict:
    stage, param = split_name(name)
    settings = {**stage.settings(cfg, param), **(extra or {})}
    inputs = {i: _fingerprint_of(run, i) for i in stage.inputs(param)}
    return {"fingerprint": fingerprint(settings, inputs), "settings": settings, "inputs": inputs}


def begin(run: RunDir, name: str, cfg: Config, extra: dict[str, Any] | None = None) -> None:
    """Record that ``name`` started with these settings and inputs, not finished: until
    :func:`finish`, nothing takes what is in its folder for a finished result."""
    save_json(record_path(run, name), {**_new_record(run, name, cfg, extra), "done": False})


def finish(run: RunDir, name: str, cfg: Config, seconds: float,
           extra: dict[str, Any] | None = None) -> None:
    """Record that ``name`` made its artifacts, with their sizes and checksums."""
    stage, param = split_name(name)
    artifacts = {rel: {"size": (run.root / rel).stat().st_size,
                       "sha256": _sha256(run.root / rel)} for rel in stage.artifacts(param)}
    rec = _new_record(run, name, cfg, extra)
    # What it made is part of its fingerprint: a stage made again with other bytes (another
    # device, say) makes the stages that read it out of date; the same bytes leave them current.
    rec["fingerprint"] = fingerprint(rec["fingerprint"], artifacts)
    save_json(record_path(run, name), {**rec, "done": True, "artifacts": artifacts,
                                       "seconds": round(seconds, 3), "finished": time.time()})


@contextmanager
def made(run: RunDir, name: str, cfg: Config,
         extra: dict[str, Any] | None = None) -> Iterator[None]:
    """Run the body, then :func:`finish` ``name`` with its wall time. Nothing is recorded when
    the body fails: the earlier result of ``name`` and its record stay as they were."""
    start = time.perf_counter()
    yield
    finish(run, name, cfg, time.perf_counter() - start, extra)


# --- what is current -----------------------------------------------------------------------------


def _changed(old: dict[str, Any], new: dict[str, Any], ignore: tuple[str, ...] = ()) -> str | None:
    for key, value in new.items():
        if key in old and old[key] != value and key not in ignore:
            return f"made with {key}={old[key]!r}, the run's settings now say {value!r}"
    return None


def stale_reason(run: RunDir, name: str, cfg: Config, extra: dict[str, Any] | None = None,
                 ignore: tuple[str, ...] = (), finished: bool = True) -> str | None:
    """Why what ``name`` made is not current for ``cfg`` (None when it is).

    ``ignore``: settings of ``name`` itself not compared; with ``finished=False`` a started,
    unfinished stage counts too (both to ask whether a generator's checkpoint can be resumed).
    """
    rec = record(run, name)
    if rec is None or (finished and not rec.get("done")):
        return "not made, or not finished"
    stage, param = split_name(name)
    if why := _changed(rec["settings"], {**stage.settings(cfg, param), **(extra or {})}, ignore):
        return why
    for upstream, fp in rec["inputs"].items():
        if _fingerprint_of(run, upstream) != fp:
            return "made from other data or settings than the run's present ones"
        if why := stale_reason(run, upstream, cfg):
            return why
    return None


def _damaged(run: RunDir, name: str) -> Path | None:
    """The first artifact of ``name`` that is not the file the stage wrote, if any."""
    for rel, written in (record(run, name) or {}).get("artifacts", {}).items():
        file = run.root / rel
        if not file.is_file() or file.stat().st_size != written["size"] or \
                _sha256(file) != written["sha256"]:
            return file
    return None


def is_fresh(run: RunDir, name: str, cfg: Config, extra: dict[str, Any] | None = None) -> bool:
    """``name``'s artifacts are current and the files it wrote: `sasgda run` can skip it."""
    return stale_reason(run, name, cfg, extra) is None and _damaged(run, name) is None


def verify(run: RunDir, name: str) -> None:
    """A one-line error when an artifact of ``name`` is not the file the stage wrote."""
    if (file := _damaged(run, name)) is not None:
        stage, param = split_name(name)
        raise ValueError(f"{file}: changed or damaged since `sasgda {stage.command(param)}` "
                         "wrote it; run that again (`sasgda run` remakes it itself)")


def require(run: RunDir, name: str, cfg: Config) -> Path:
    """``name``'s first artifact, once it is known to exist, to be current for ``cfg`` and to be
    the file the stage wrote; otherwise a one-line error naming the command that remakes it."""
    stage, param = split_name(name)
    path = run.require(artifact(run, name), stage.command(param))
    if why := stale_reason(run, name, cfg):
        raise ValueError(f"{path}: out of date ({why}); run `sasgda {stage.command(param)}` "
                         "again")
    verify(run, name)
    return path


def outdated(run: RunDir, name: str) -> bool:
    """True when an input of ``name`` was remade (or is itself outdated) after ``name`` read it:
    what ``name`` made describes old windows, features or synthetic sets."""
    rec = record(run, name)
    if rec is None:
        return False
    return any(_fingerprint_of(run, i) != fp or outdated(run, i)
               for i, fp in rec["inputs"].items())


def timings(run: RunDir) -> dict[str, float]:
    """Seconds of every finished stage, in the order they finished."""
    recs = [(load_json(p), p.stem) for p in (run.root / "records").glob("*.json")]
    done = sorted((r["finished"], name, r["seconds"]) for r, name in recs if r.get("done"))
    return {name: seconds for _, name, seconds in done}
