"""Retraining the committed cells of `bench/sasgda_myoup.py` (MyoUP) and of `bench/benchmark.py
--dataset myo-readings` with one thing changed: the pieces that bench/augmented_epochs.py,
bench/combined.py, bench/more_synthetic.py, bench/resample.py and bench/generator_steps.py share.

The runs under runs/bench-sasgda/runs/ and runs/bench-myo-readings/runs/ are only read; each
retrained cell is one JSON file, so that an interrupted script resumes, and its table is
rewritten as every cell finishes.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
from benchmark import DATASETS  # bench/ is on sys.path for bench scripts
from sasgda_myoup import CELLS

from sasgda import pipeline
from sasgda.augment.mixing import mix
from sasgda.benchmark import Cell, run_dir
from sasgda.config import DownstreamConfig
from sasgda.evaluation import paired_wilcoxon, train_and_test
from sasgda.utils.io import atomic_write_text, load_json, save_json
from sasgda.utils.rundir import RunDir
from sasgda.utils.tasks import Task, run_tasks

RESULTS = Path(__file__).resolve().parent / "results"


def benchmark_run(subject: str, seed: int, dataset: str = "myoup") -> RunDir:
    """The run folder of one subject and seed of the benchmark of ``dataset``."""
    return RunDir(run_dir(DATASETS[dataset]["out"], subject, seed))


def committed_accuracy(subject: str, method: str, backbone: str, seed: int,
                       dataset: str = "myoup") -> float:
    """Test accuracy of a committed cell: bench/results/sasgda-cells/ for MyoUP, the
    benchmark's results.csv for the other datasets."""
    cell = Cell(subject, method, backbone, seed)
    if dataset == "myoup":
        return load_json(CELLS / f"{cell.name}.json")["accuracy"]
    if cell not in (committed := _committed_csv(dataset)):
        raise KeyError(f"no committed {dataset} cell {cell.name}")
    return committed[cell]


@functools.cache
def _committed_csv(dataset: str) -> dict[Cell, float]:
    """The accuracies of a benchmark's results.csv, read once per process."""
    with open(RESULTS / f"benchmark-{dataset}" / "results.csv", newline="") as handle:
        return {Cell(r["subject"], r["method"], r["backbone"], int(r["seed"])): float(r["accuracy"])
                for r in csv.DictReader(handle)}


def downstream_accuracy(w: dict[str, np.ndarray], extra: tuple[np.ndarray, np.ndarray],
                        dcfg: DownstreamConfig, seed: int) -> float:
    """Test accuracy of ``dcfg``'s backbone trained as `sasgda train-downstream` trains it, on the
    real training windows of ``w`` plus ``extra`` (x, y), without writing to the run."""
    x_train, y_train = pipeline.split_arrays(w, "train")
    _, scores = train_and_test(dcfg.backbone, mix(x_train, y_train, *extra),
                               pipeline.split_arrays(w, "val"), pipeline.split_arrays(w, "test"),
                               len(w["classes"]), pipeline.downstream_schedule(dcfg), seed=seed,
                               device="cpu", progress=False)
    return scores["accuracy"]


def paired_line(label: str, new: np.ndarray, old: np.ndarray) -> str:
    """A table's summary line for ``new`` against ``old`` accuracies, paired by subject: the mean
    difference in points, on how many subjects ``new`` is ahead, the Wilcoxon p."""
    diff = new - old
    return (f"- {label}: {100 * diff.mean():+.2f} points, ahead on {int(np.sum(diff > 0))} of "
            f"{len(diff)} subjects, p = {paired_wilcoxon(new, old):.3f}")


def against_committed(rows: list[dict], method: str, seed: int, old: str, new: str,
                      paired: str, extra: tuple[str, Callable[[dict], str]] | None = None,
                      dataset: str = "myoup") -> list[str]:
    """The lines of a table of retrained CNN cells (``rows``, each with ``subject`` and
    ``accuracy``) beside the committed ``none`` and ``method`` cells: one row per subject, the
    means and the paired summary labelled ``paired``; columns named ``old`` and ``new``, and
    ``extra`` (a header and a row's value) after them."""
    rows = sorted(rows, key=lambda r: int(r["subject"]))
    acc = np.array([r["accuracy"] for r in rows])
    committed = np.array([committed_accuracy(r["subject"], method, "cnn", seed, dataset)
                          for r in rows])
    none = np.array([committed_accuracy(r["subject"], "none", "cnn", seed, dataset)
                     for r in rows])
    head, value = extra or ("", None)
    lines = [f"| subject | none | {old} | {new} |{f' {head} |' if extra else ''}",
             "|---|---|---|---|" + ("---|" if extra else "")]
    lines += [f"| {r['subject']} | {100 * n:.1f} | {100 * o:.1f} | {100 * a:.1f} |"
              + (f" {value(r)} |" if extra else "")
              for r, n, o, a in zip(rows, none, committed, acc, strict=True)]
    if rows:
        lines += [f"| mean | {100 * none.mean():.1f} | {100 * committed.mean():.1f} | "
                  f"{100 * acc.mean():.1f} |" + (" |" if extra else ""), ""]
    if len(rows) > 1:
        lines.append(paired_line(paired, acc, committed))
    return lines


def run_cells(tasks: dict[Path, Task], table: Path, report: Callable[[list[dict]], str],
              jobs: int) -> None:
    """Run each task whose result file is missing, in ``jobs`` processes, and save the dict it
    returns there; after each, and at the end, write ``table`` from every finished result."""
    pending = [path for path in tasks if not path.is_file()]

    def write_table() -> None:
        atomic_write_text(table, report([load_json(p) for p in tasks if p.is_file()]))

    def finished(i: int, row: dict) -> None:
        save_json(pending[i], row)
        print(row, flush=True)
        write_table()

    run_tasks([tasks[path] for path in pending], finished, jobs=jobs)
    write_table()
