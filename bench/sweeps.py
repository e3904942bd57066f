"""Accuracy against the amount of synthetic data, and the SASS confidence-threshold sweep.

Works on the runs of `bench/sasgda_myoup.py` (seed 0, same config), whose cells it needs for the
subjects asked for. Per subject:

1. `sasgda evaluate` on the subject's run: FID, CAS, AvgKNN, LOF, rarity and PRDC of its `real`,
   `label`, `gmss` and `sass` sets (the generation-quality table of `sasgda report`).
2. Ratio: the downstream CNN trained with 0.5 and 1 GMSS / SASS windows per real one (balanced
   subsets of the benchmark's sets), beside the benchmark's 0 (`none`) and 2.
3. Confidence: SASS generated again with thresholds 0.05 and 0.25 (0.15 is the benchmark's), each
   scored (FID, CAS) and used to train the downstream CNN.

Every setting gets its own run folder under --sweep-out whose inputs are links to the subject's
run (only read, never written), so the benchmark's results stay as they are. Finished settings are
kept as JSON files and skipped on a rerun.

    python bench/sweeps.py [--subjects 1 2 3] [--jobs 2]

Writes bench/results/sweeps.md, bench/results/accuracy_vs_ratio.png and
bench/results/confidence_sweep.png.
"""

from __future__ import annotations

import argparse
import platform
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from sasgda_myoup import OUT, bench_config  # bench/ is on sys.path for bench scripts

from sasgda import pipeline
from sasgda.benchmark import Cell, cell_path, run_dir
from sasgda.config import Config, replace
from sasgda.evaluation import format_mean_sd
from sasgda.utils.io import atomic_write_text, load_json, save_json
from sasgda.utils.rundir import RunDir
from sasgda.viz.plots import plot_accuracy_vs_ratio, plot_confidence_sweep
from sasgda.viz.report import QUALITY_COLUMNS, quality_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RATIOS = (0.5, 1.0)  # besides the benchmark's 0 and 2
RATIO_METHODS = ("gmss", "sass")
CONFIDENCES = (0.05, 0.15, 0.25)
STRATEGIES = ("real", "label", "gmss", "sass")


def linked_run(base: RunDir, dest: Path, links: tuple[str, ...]) -> RunDir:
    """A run folder whose ``links`` (paths inside a run) point to ``base``'s, with a copy of its
    bookkeeping (so that the linked stages count as done)."""
    for rel in links:
        target = dest / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to((base.root / rel).resolve())
    for name in ("run_info.json", "config.yaml"):
        if not (dest / name).exists():
            shutil.copy2(base.root / name, dest / name)
    return RunDir(dest)


def _downstream(cfg: Config, run: RunDir, augment: str, ratio: float) -> float:
    downstream = replace(cfg.downstream, backbone="cnn", augment=augment, synthetic_ratio=ratio)
    metrics = pipeline.train_downstream(replace(cfg, downstream=downstream), run,
                                        torch.device("cpu"), progress=False)
    return metrics["accuracy"]


def _cached(path: Path, compute) -> dict:
    if not path.is_file():
        save_json(path, compute())
    return load_json(path)


def subject_sweeps(subject: str, out: Path, sweep_out: Path) -> dict:
    torch.set_num_threads(1)
    cfg = bench_config()
    device = torch.device("cpu")
    base = RunDir(run_dir(out, subject, cfg.seed))
    cell = {m: cell_path(out, Cell(subject, m, "cnn", cfg.seed)) for m in ("none", *STRATEGIES)}
    missing = [m for m, path in cell.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{out}: subject {subject} has no finished cell for "
                                f"{', '.join(missing)}; run bench/sasgda_myoup.py first")
    quality = pipeline.load_json_if(base.root / "metrics.json")
    if any(s not in quality for s in STRATEGIES):
        quality = {**quality, **pipeline.evaluate(cfg, base, device, progress=False,
                                                  strategies=STRATEGIES)}
    here = sweep_out / f"s{subject}"
    inputs = ("data", "classifier", "semantic/features.npz")

    ratio = {"none": {0.0: load_json(cell["none"])["accuracy"]}}
    for method in RATIO_METHODS:
        ratio[method] = {0.0: ratio["none"][0.0], 2.0: load_json(cell[method])["accuracy"]}
        for r in RATIOS:
            def compute(method=method, r=r):
                run = linked_run(base, here / f"ratio-{r:g}", (*inputs, "synthetic"))
                return {"accuracy": _downstream(cfg, run, method, r)}
            ratio[method][r] = _cached(here / f"ratio-{r:g}-{method}.json", compute)["accuracy"]

    confidence = {}
    for c in CONFIDENCES:
        if c == cfg.sampling.confidence:  # the benchmark's own set and cell
            confidence[c] = {"fid": quality["sass"]["fid"], "cas": quality["sass"]["cas"],
                             "accuracy": load_json(cell["sass"])["accuracy"]}
            continue

        def compute(c=c):
            run = linked_run(base, here / f"confidence-{c:g}", (*inputs, "generator",
                                                                  "evaluator"))
            ccfg = replace(cfg, sampling=replace(cfg.sampling, confidence=c))
            pipeline.ensure_synthetic(ccfg, run, device, "sass", progress=False)
            metrics = pipeline.evaluate(ccfg, run, device, progress=False,
                                        strategies=("sass",))["sass"]
            return {"fid": metrics["fid"], "cas": metrics["cas"],
                    "accuracy": _downstream(ccfg, run, "sass", cfg.downstream.synthetic_ratio)}
        confidence[c] = _cached(here / f"confidence-{c:g}.json", compute)
    return {"subject": subject, "ratio": ratio, "confidence": confidence, "quality": quality}


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", nargs="+", default=["1", "2", "3"])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT,
                        help="the output folder of bench/sasgda_myoup.py")
    parser.add_argument("--sweep-out", type=Path, default=ROOT / "runs" / "bench-sweeps")
    args = parser.parse_args()

    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(subject_sweeps, args.subjects, [args.out] * len(args.subjects),
                                [args.sweep_out] * len(args.subjects)))
    cfg = bench_config()
    subjects = ", ".join(r["subject"] for r in results)
    ratios = [0.0, *RATIOS, 2.0]
    acc_by_method = {m: [_mean_sd([100 * r["ratio"][m][x] for r in results]) for x in ratios]
                     for m in RATIO_METHODS}
    plot_accuracy_vs_ratio(ratios, acc_by_method, RESULTS / "accuracy_vs_ratio.png",
                           ylabel="test accuracy (%)")
    sweep = {key: [_mean_sd([(100 if key != "fid" else 1) * r["confidence"][c][key]
                             for r in results]) for c in CONFIDENCES]
             for key in ("fid", "cas", "accuracy")}
    plot_confidence_sweep(CONFIDENCES, sweep["fid"], sweep["cas"], sweep["accuracy"],
                          RESULTS / "confidence_sweep.png")

    lines = [
        "# Sweeps: synthetic ratio and SASS confidence threshold (MyoUP)", "",
        f"Generated by `python bench/sweeps.py` ({platform.machine()} CPU) on the runs of "
        f"`bench/sasgda_myoup.py` (seed 0). Subjects {subjects}; CNN downstream; accuracy on "
        "the test repetitions, mean ± sd over subjects.", "",
        "## Accuracy (%) against synthetic windows per real one", "",
        "![accuracy vs ratio](accuracy_vs_ratio.png)", "",
        "| method | " + " | ".join(f"{x:g}" for x in ratios) + " |",
        "|---|" + "---|" * len(ratios)]
    for m in RATIO_METHODS:
        lines.append(f"| {m} | " + " | ".join(
            format_mean_sd([r["ratio"][m][x] for r in results]) for x in ratios) + " |")
    lines += ["", f"## SASS confidence threshold (benchmark default "
              f"{cfg.sampling.confidence:g})", "", "![confidence sweep](confidence_sweep.png)", "",
              "| threshold | FID (evaluator features) | CAS % | downstream accuracy % |",
              "|---|---|---|---|"]
    for c in CONFIDENCES:
        fid, cas, acc = ([r["confidence"][c][key] for r in results]
                         for key in ("fid", "cas", "accuracy"))
        lines.append(f"| {c:g} | {format_mean_sd(fid, scale=1, digits=2)} | "
                     f"{format_mean_sd(cas)} | {format_mean_sd(acc)} |")
    means = {s: {key: float(np.nanmean([r["quality"][s].get(key, np.nan) for r in results]))
                 for key in QUALITY_COLUMNS} for s in STRATEGIES}
    lines += ["", "## Generation quality per strategy (mean over subjects)", "",
              "Evaluator-network features; CAS is a fraction.", "", quality_table(means)]
    atomic_write_text(RESULTS / "sweeps.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
