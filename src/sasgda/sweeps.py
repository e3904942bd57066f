"""Sweeps over a benchmark's runs: accuracy against the amount of synthetic data, and the SASS
confidence threshold (design.md section 6).

For one subject and seed of a benchmark folder (``sasgda benchmark --out DIR``) whose cells for
``none``, the ratio methods and ``sass`` are finished:

1. ``sasgda evaluate`` on the subject's run: FID, CAS, AvgKNN, LOF, rarity and PRDC of every
   synthetic set (what ``sasgda report`` puts in its generation-quality table).
2. Ratio: the downstream model trained with other synthetic-to-real ratios (balanced subsets of
   the benchmark's synthetic sets), beside the benchmark's 0 (``none``) and its own ratio.
3. Confidence: SASS generated again with other thresholds, each scored (FID, CAS) and used to
   train the downstream model; the benchmark's own threshold comes from its set and cell.

Every setting gets its own run folder under ``DIR/sweeps/<backbone>/s<subject>-seed<seed>/``
whose inputs are links to the subject's run, which is only read: the benchmark's results stay as
they are. Each finished setting is a JSON file there, skipped on a rerun; the subject's summary
is ``DIR/sweeps/<backbone>/s<subject>-seed<seed>.json``. Each downstream backbone has its own
folder, so that one backbone's accuracies are never taken for another's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sasgda import pipeline
from sasgda.benchmark import Cell, cell_path, run_dir
from sasgda.config import Config, from_dict, replace
from sasgda.data import subject_key
from sasgda.utils import resolve_device
from sasgda.utils.io import load_json, load_json_if, save_json
from sasgda.utils.rundir import RunDir, linked_run
from sasgda.utils.tasks import Task, run_tasks

RATIOS = (0.5, 1.0)
RATIO_METHODS = ("gmss", "sass")
CONFIDENCES = (0.05, 0.15, 0.25)
# What a sweep folder links from the subject's run: the prepared windows, the classifier and its
# features, and (for new SASS sets) the generator and the evaluator.
INPUTS = ("data", "classifier", "semantic/features.npz")


def sweep_dir(out: Path, subject: str, seed: int, backbone: str) -> Path:
    return out / "sweeps" / backbone / f"s{subject}-seed{seed}"


def _cached(path: Path, compute: Callable[[], dict]) -> dict:
    if not path.is_file():
        save_json(path, compute())
    return load_json(path)


def sweep_subject(
    out: str | Path,
    subject: str,
    seed: int = 0,
    *,
    backbone: str = "cnn",
    ratios: Sequence[float] = RATIOS,
    ratio_methods: Sequence[str] = RATIO_METHODS,
    confidences: Sequence[float] = CONFIDENCES,
) -> dict[str, Any]:
    """Both sweeps for one subject and seed of the benchmark in ``out``; returns the summary."""
    out = Path(out)
    if not (out / "benchmark.json").is_file():
        raise FileNotFoundError(f"{out}: no benchmark.json; run `sasgda benchmark` first")
    settings = load_json(out / "benchmark.json")
    cfg: Config = replace(from_dict(Config, settings["config"]), seed=seed)
    device = resolve_device(cfg.device)
    base = RunDir(run_dir(out, subject, seed))
    needed = ("none", *ratio_methods, "sass")
    cells = {m: cell_path(out, Cell(subject, m, backbone, seed)) for m in needed}
    missing = [m for m, path in cells.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{out}: subject {subject}, seed {seed} has no finished "
                                f"{backbone} cell for {', '.join(missing)}; run "
                                "`sasgda benchmark` with those methods first")
    accuracy = {m: load_json(path)["accuracy"] for m, path in cells.items()}

    strategies = tuple(sorted(p.stem for p in (base.root / "synthetic").glob("*.npz")))
    quality = load_json_if(base.root / "metrics.json")
    if any(s not in quality for s in strategies):
        quality = {**quality, **pipeline.evaluate(cfg, base, device, progress=False,
                                                  strategies=strategies)}
    here = sweep_dir(out, subject, seed, backbone)

    def downstream(run: RunDir, run_cfg: Config, method: str, ratio: float) -> float:
        dcfg = replace(run_cfg.downstream, backbone=backbone, augment=method,
                       synthetic_ratio=ratio)
        return pipeline.train_downstream(replace(run_cfg, downstream=dcfg), run, device,
                                         progress=False)["accuracy"]

    own_ratio = cfg.downstream.synthetic_ratio
    ratio_rows = [{"method": m, "ratio": 0.0, "accuracy": accuracy["none"]}
                  for m in ratio_methods]
    ratio_rows += [{"method": m, "ratio": own_ratio, "accuracy": accuracy[m]}
                   for m in ratio_methods]
    for r in sorted(set(ratios) - {0.0, own_ratio}):
        for m in ratio_methods:
            def compute(r=r, m=m):
                # Subsets of the benchmark's own set, which a pruned run no longer has.
                base.require(base.synthetic(m), f"generate --strategy {m}")
                run = linked_run(base, here / f"ratio-{r:g}", (*INPUTS, "synthetic"))
                return {"method": m, "ratio": r, "accuracy": downstream(run, cfg, m, r)}
            ratio_rows.append(_cached(here / f"ratio-{r:g}-{m}.json", compute))

    confidence_rows = []
    for c in sorted(confidences):
        if c == cfg.conditions.confidence:  # the benchmark's own set and cell
            confidence_rows.append({"threshold": c, "fid": quality["sass"]["fid"],
                                    "cas": quality["sass"]["cas"],
                                    "accuracy": accuracy["sass"]})
            continue

        def compute(c=c):
            run = linked_run(base, here / f"confidence-{c:g}",
                             (*INPUTS, "generator", "evaluator"))
            ccfg = replace(cfg, conditions=replace(cfg.conditions, confidence=c))
            pipeline.ensure(ccfg, run, device, "generate-sass", progress=False)
            metrics = pipeline.evaluate(ccfg, run, device, progress=False,
                                        strategies=("sass",))["sass"]
            return {"threshold": c, "fid": metrics["fid"], "cas": metrics["cas"],
                    "accuracy": downstream(run, ccfg, "sass", own_ratio)}
        confidence_rows.append(_cached(here / f"confidence-{c:g}.json", compute))

    summary = {"subject": subject, "seed": seed, "backbone": backbone,
               "ratio": sorted(ratio_rows, key=lambda row: (row["method"], row["ratio"])),
               "confidence": confidence_rows, "quality": quality}
    save_json(here.with_suffix(".json"), summary)
    return summary


def run_sweeps(out: str | Path, subjects: Sequence[str], seeds: Sequence[int] = (0,),
               jobs: int = 1, progress: bool = True, engine: str = "process",
               address: str | None = None, **options: Any) -> list[dict[str, Any]]:
    """:func:`sweep_subject` for every subject and seed, as the benchmark runs its tasks
    (:func:`~sasgda.utils.tasks.run_tasks`): here, ``jobs`` at a time in processes of one torch
    thread each, or as Ray tasks on a local Ray of ``jobs`` CPUs or the cluster at ``address``."""
    tasks = [Task(partial(sweep_subject, **options), (out, str(s), int(seed)))
             for seed in seeds for s in subjects]
    bar = tqdm(total=len(tasks), desc="sweeps", unit="subject", disable=not progress)
    results = []

    def finished(_: int, result: dict[str, Any]) -> None:
        results.append(result)
        bar.update()

    run_tasks(tasks, finished, jobs=jobs, engine=engine, address=address)
    bar.close()
    return sorted(results, key=lambda r: (r["seed"], subject_key(r["subject"])))


def load_sweeps(out: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Every subject's sweep summary in ``out/sweeps/``, by downstream backbone."""
    return {folder.name: [load_json(p) for p in sorted(folder.glob("*.json"))]
            for folder in sorted((Path(out) / "sweeps").glob("*")) if any(folder.glob("*.json"))}


__all__ = ["load_sweeps", "run_sweeps", "sweep_subject"]
