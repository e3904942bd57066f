"""The benchmark grid: subjects x methods x backbones x seeds, in parallel processes.

Layout of ``--out DIR``::

    DIR/benchmark.json                       the grid's settings
    DIR/runs/s<subject>-seed<seed>/          one run directory per subject and seed (shared stages)
    DIR/cells/s<subject>_<method>_<backbone>_seed<seed>.json    one result per cell

A cell's JSON is written (atomically) when it finishes; a rerun skips finished cells and the shared
stages whose artifacts are fresh, so an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sasgda.config import Config, changed_setting, replace, to_dict
from sasgda.utils.io import load_json, save_json
from sasgda.utils.tasks import Task, check_engine, run_tasks

log = logging.getLogger("sasgda")

# Settings that do not change a cell's numbers: where and how it runs, what each cell sets
# itself, and the generation-quality settings (their metrics are remade per run when they change).
NOT_COMPARED = ("device", "precision", "compile", "downstream.backbone", "downstream.augment",
                "evaluate")


@dataclass(frozen=True)
class Cell:
    subject: str
    method: str
    backbone: str
    seed: int

    @property
    def name(self) -> str:
        return f"s{self.subject}_{self.method}_{self.backbone}_seed{self.seed}"


def run_dir(out: Path, subject: str, seed: int) -> Path:
    return out / "runs" / f"s{subject}-seed{seed}"


def cell_path(out: Path, cell: Cell) -> Path:
    return out / "cells" / f"{cell.name}.json"


def _worker(cfg_dict: dict, out: str, subject: str, seed: int, **changes: Any):
    """Config, device and run directory of one worker process, seeded.

    One torch thread per process: cells run side by side instead of fighting for cores.
    """
    import torch

    from sasgda.config import from_dict
    from sasgda.utils import resolve_device, seed_everything
    from sasgda.utils.rundir import RunDir

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", force=True)
    cfg = replace(from_dict(Config, cfg_dict), seed=seed, **changes)
    seed_everything(seed)
    return cfg, resolve_device(cfg.device), RunDir(run_dir(Path(out), subject, seed))


def _shared_stages(cfg_dict: dict, out: str, data_path: str | None, subject: str, seed: int,
                   methods: tuple[str, ...], quality: bool = False) -> str:
    """Prepare (and, for generative methods, classifier, generators, synthetic sets) once; with
    ``quality``, also the generation-quality metrics of each synthetic set not yet evaluated."""
    from sasgda import pipeline
    from sasgda.semantic import STRATEGIES
    from sasgda.stages import is_fresh

    cfg, device, run = _worker(cfg_dict, out, subject, seed)
    pipeline.start_run(cfg, run, str(device))
    pipeline.ensure_prepared(cfg, run, data_path, subject)
    strategies = [m for m in methods if m in STRATEGIES]
    for strategy in strategies:
        pipeline.ensure(cfg, run, device, f"generate-{strategy}", progress=False)
    if quality and (todo := [s for s in strategies if not is_fresh(run, f"evaluate-{s}", cfg)]):
        pipeline.evaluate(cfg, run, device, progress=False, strategies=tuple(todo))
    return subject


def _run_cell(cfg_dict: dict, out: str, cell: Cell) -> dict[str, Any]:
    from sasgda import pipeline
    from sasgda.config import DownstreamConfig, from_dict

    downstream = replace(from_dict(DownstreamConfig, cfg_dict["downstream"]),
                         backbone=cell.backbone, augment=cell.method)
    cfg, device, run = _worker(cfg_dict, out, cell.subject, cell.seed, downstream=downstream)
    metrics = pipeline.train_downstream(cfg, run, device, progress=False)
    result = {"subject": cell.subject, "method": cell.method, "backbone": cell.backbone,
              "seed": cell.seed, **metrics}
    save_json(cell_path(Path(out), cell), result)
    return result


def _schedule(cfg_dict: dict, out: str, data_path: str | None, methods: tuple[str, ...],
              todo: Sequence[Cell], jobs: int, progress: bool, engine: str = "process",
              address: str | None = None, quality: bool = False,
              everything: Sequence[Cell] = ()) -> None:
    """Shared stages of every (subject, seed), each followed by that pair's cells: one task per
    pair and per cell, a cell after its pair's (see :func:`run_tasks` for how they run).

    Cells whose shared stages are done go before the next pair's shared stages, so finished
    results appear subject by subject and an interrupted benchmark has whole subjects to show.
    """
    # Seed by seed, each in the order the subjects were given; with quality, every pair (its
    # metrics may be missing where its cells are done).
    pairs = sorted(dict.fromkeys((c.subject, c.seed) for c in (everything if quality else todo)),
                   key=lambda p: p[1])
    tasks: list[Task] = []
    for subject, seed in pairs:
        shared = len(tasks)
        tasks.append(Task(_shared_stages, (cfg_dict, out, data_path, subject, seed, methods,
                                           quality)))
        tasks += [Task(_run_cell, (cfg_dict, out, c), after=shared) for c in todo
                  if (c.subject, c.seed) == (subject, seed)]
    bar = tqdm(total=len(tasks), desc="benchmark", unit="task", disable=not progress)

    def finished(index: int, result: Any) -> None:
        if tasks[index].fn is _run_cell:  # one line per cell, above the bar
            line = (f"s{result['subject']} {result['method']} {result['backbone']} seed "
                    f"{result['seed']}: accuracy {100 * result['accuracy']:.1f} % "
                    f"({result['train_seconds']:.0f} s)")
            if progress:
                bar.write(line)
            else:
                log.info(line)
        bar.update()

    gpus = 1 if str(cfg_dict["device"]).startswith("cuda") else 0
    run_tasks(tasks, finished, jobs=jobs, engine=engine, address=address, gpus=gpus)
    bar.close()


def run_benchmark(
    cfg: Config,
    *,
    data_path: str | None,
    subjects: Sequence[str],
    methods: Sequence[str],
    backbones: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    jobs: int = 1,
    progress: bool = True,
    engine: str = "process",
    address: str | None = None,
    quality: bool = False,
) -> list[dict[str, Any]]:
    """Compute every missing cell of the grid and return all cells' results.

    ``engine``: ``process`` (a pool of ``jobs`` processes on this machine) or ``ray`` (Ray
    tasks on a local Ray of ``jobs`` CPUs, or on the cluster at ``address``). ``quality``: also
    the generation-quality metrics of every synthetic set (FID, CAS, ... for `report`).
    """
    check_engine(engine)
    from sasgda.models import BACKBONES

    out = Path(out)
    for backbone in backbones:
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r} (valid: {', '.join(BACKBONES)})")
    check_methods(methods)
    settings = {"dataset": cfg.data.dataset, "data_path": data_path, "subjects": list(subjects),
                "methods": list(methods), "backbones": list(backbones), "seeds": list(seeds),
                "config": to_dict(cfg)}
    previous = load_json(out / "benchmark.json") if (out / "benchmark.json").is_file() else None
    if previous:
        # Finished cells are reused, so they must come from the same data and settings.
        if previous["data_path"] != data_path:
            raise ValueError(f"{out}: holds a benchmark of other data "
                             f"({previous['data_path'] or 'built-in'}); use a new --out")
        changed = changed_setting(previous["config"], settings["config"], NOT_COMPARED)
        if changed:
            raise ValueError(f"{out}: holds a benchmark made with {changed}; use a new --out, "
                             "or the same settings to add subjects, seeds or methods")
        # The folder's grid is every call's: later calls add to it.
        for key in ("subjects", "methods", "backbones", "seeds"):
            settings[key] = list(dict.fromkeys([*previous[key], *settings[key]]))
    save_json(out / "benchmark.json", settings)

    cells = [Cell(str(s), m, b, int(seed)) for s in subjects for seed in seeds
             for m in methods for b in backbones]
    todo = [c for c in cells if not cell_path(out, c).is_file()]
    log.info("benchmark: %d cells, %d already done", len(cells), len(cells) - len(todo))
    _schedule(to_dict(cfg), str(out), data_path, tuple(methods), todo, jobs, progress, engine,
              address, quality, cells)
    return [load_json(cell_path(out, c)) for c in cells]


def check_methods(methods: Sequence[str]) -> None:
    from sasgda.augment import downstream_methods

    valid = downstream_methods()
    for method in methods:
        if method not in valid:
            raise ValueError(f"unknown method {method!r} (valid: {', '.join(valid)})")


__all__ = ["Cell", "run_benchmark"]
