"""`sasgda report`: markdown + CSV tables and plots for one run or for a benchmark directory.

It reads what the pipeline, the benchmark and the sweeps wrote, so it sits beside them, above
the plotting helpers of `viz/`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from sasgda.data import subject_key
from sasgda.evaluation.stats import format_mean_sd, mean_sd
from sasgda.stages import outdated, timings
from sasgda.sweeps import load_sweeps
from sasgda.utils.io import atomic_write_text, load_json, load_json_if, load_npz
from sasgda.utils.rundir import RunDir
from sasgda.viz.plots import (
    plot_accuracy_vs_ratio,
    plot_confidence_sweep,
    plot_feature_embedding,
    plot_waveforms,
)
from sasgda.viz.tables import subject_table, summary_table

QUALITY_COLUMNS = ("fid", "cas", "avg_knn", "lof", "rarity", "precision", "recall", "density",
                   "coverage")
CSV_COLUMNS = ("subject", "method", "backbone", "seed", "accuracy", "macro_f1", "train_seconds")


def quality_table(metrics_by_strategy: dict[str, dict[str, float]]) -> str:
    """FID, CAS, AvgKNN, LOF, rarity and PRDC per strategy (one run, or means over runs); CAS is
    an accuracy and given in %, as everywhere else."""
    names = [f"{c} %" if c == "cas" else c for c in QUALITY_COLUMNS]
    lines = ["| strategy | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for strategy, m in metrics_by_strategy.items():
        cells = ["" if c not in m or not np.isfinite(m[c]) else
                 f"{100 * m[c]:.1f}" if c == "cas" else f"{m[c]:.3f}" for c in QUALITY_COLUMNS]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stage_time_table(runs: list[RunDir]) -> str:
    """Mean wall-clock seconds of each stage over the runs that ran it."""
    seconds: dict[str, list[float]] = {}
    for run in runs:
        for stage, s in timings(run).items():
            seconds.setdefault(stage, []).append(s)
    lines = ["| stage | mean s | runs |", "|---|---|---|"]
    lines += [f"| {stage} | {np.mean(v):.0f} | {len(v)} |" for stage, v in seconds.items()]
    return "\n".join(lines)


def mean_quality(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per strategy, the mean of every quality metric over the runs that have it."""
    by_strategy: dict[str, list[dict]] = {}
    for metrics in runs:
        for strategy, m in metrics.items():
            by_strategy.setdefault(strategy, []).append(m)
    return {s: {c: float(np.nanmean([m[c] for m in ms if c in m])) for c in QUALITY_COLUMNS
                if any(c in m for m in ms)} for s, ms in by_strategy.items()}


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run_plots(run: RunDir, plots_dir: Path | None = None) -> list[Path]:
    """Real against synthetic waveforms per class, and a 2-D view of the semantic features.

    Written to ``plots_dir`` (default: the run's ``plots/``). Synthetic sets made before their
    inputs last changed (after ``prepare`` on other data, say) are left out.
    """
    plots_dir = plots_dir or run.root / "plots"
    plots = []
    w = load_npz(run.windows)
    train = w["split"] == "train"
    sets = {p.stem: load_npz(p) for p in sorted((run.root / "synthetic").glob("*.npz"))
            if not outdated(run, f"generate-{p.stem}")}
    classes = [str(c) for c in w["classes"]]
    for name, syn in sets.items():
        plots.append(plot_waveforms(w["x"][train], w["y"][train], syn["x"], syn["y"], classes,
                                    plots_dir / f"waveforms-{name}.png",
                                    fs_hz=float(w["fs_hz"])))
    if run.features.is_file() and not outdated(run, "train-classifier"):
        feats = load_npz(run.features)
        by_set = {"real": (feats["features"][train], w["y"][train])}
        for name in ("gmss", "sass"):
            if name in sets:
                by_set[name] = (sets[name]["cond"], sets[name]["y"])
        plots.append(plot_feature_embedding(by_set, plots_dir / "embedding.png"))
    return plots


def report_run(run_dir: str | Path) -> Path:
    """``report.md``, ``results.csv`` and ``plots/`` for one run directory."""
    run = RunDir(run_dir)
    run.require(run.windows, "prepare")
    subject = run.info().get("subject", "")
    # Results made before their windows or synthetic set last changed describe old data: they
    # are named, not tabled.
    rows, old = [], []
    for m in map(load_json, sorted((run.root / "downstream").glob("*/metrics.json"))):
        name = f"{m['backbone']}-{m['augment']}"
        if outdated(run, f"downstream-{name}"):
            old.append(f"downstream `{name}` (`sasgda train-downstream --backbone {m['backbone']} "
                       f"--augment {m['augment']}`)")
        else:
            rows.append({**m, "subject": subject, "method": m["augment"]})
    quality = {}
    for strategy, m in load_json_if(run.root / "metrics.json").items():
        if outdated(run, f"evaluate-{strategy}"):
            old.append(f"generation quality of `{strategy}` (`sasgda evaluate`)")
        else:
            quality[strategy] = m
    plots = run_plots(run)
    info = run.info()
    parts = [f"# sasgda report: {info.get('dataset', '?')}, subject {info.get('subject', '?')}, "
             f"{info.get('protocol', '?')}", ""]
    if rows:
        parts += ["## Downstream accuracy", "", summary_table(rows), ""]
    if quality:
        parts += ["## Generation quality (evaluator features)", "", quality_table(quality), ""]
    if old:
        parts += ["## Left out", "", "Made before their windows or synthetic set last changed, "
                  "so they describe other data; the command in brackets makes them again:", "",
                  *[f"- {item}" for item in old], ""]
    if plots:
        parts += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots] + [""]
    parts += ["## Stage timings (s)", ""] + [f"- {k}: {v:.1f}" for k, v in timings(run).items()]
    atomic_write_text(run.root / "results.csv", _csv(rows))
    return atomic_write_text(run.root / "report.md", "\n".join(parts) + "\n")


def sweep_section(backbone: str, sweeps: list[dict], plots_dir: Path) -> list[str]:
    """Tables and plots of one backbone's :mod:`sasgda.sweeps` results, mean ± sd over subjects
    (and seeds)."""
    n = len(sweeps)
    parts = [f"## Sweeps ({backbone} downstream, {n} subject run{'s' * (n != 1)})", ""]
    rows = [row for sweep in sweeps for row in sweep["ratio"]]
    ratios = sorted({row["ratio"] for row in rows})
    methods = list(dict.fromkeys(row["method"] for row in rows))
    acc = {m: {r: [row["accuracy"] for row in rows if row["method"] == m and row["ratio"] == r]
               for r in ratios} for m in methods}
    if all(acc[m][r] for m in methods for r in ratios):
        plot = plot_accuracy_vs_ratio(
            ratios, {m: [mean_sd([100 * a for a in acc[m][r]]) for r in ratios]
                     for m in methods}, plots_dir / f"accuracy_vs_ratio-{backbone}.png",
            ylabel="test accuracy (%)")
        parts += ["### Accuracy (%) against synthetic windows per real one", "",
                  f"![accuracy vs ratio](plots/{plot.name})", "",
                  "| method | " + " | ".join(f"{r:g}" for r in ratios) + " |",
                  "|---" * (len(ratios) + 1) + "|"]
        parts += [f"| {m} | " + " | ".join(format_mean_sd(acc[m][r]) for r in ratios) + " |"
                  for m in methods]
        parts.append("")
    rows = [row for sweep in sweeps for row in sweep["confidence"]]
    thresholds = sorted({row["threshold"] for row in rows})
    by = {key: [[row[key] for row in rows if row["threshold"] == c] for c in thresholds]
          for key in ("fid", "cas", "accuracy")}
    if all(len(v) == len(sweeps) for v in by["fid"]):
        plot = plot_confidence_sweep(thresholds, [mean_sd(v) for v in by["fid"]],
                                     [mean_sd([100 * x for x in v]) for v in by["cas"]],
                                     [mean_sd([100 * x for x in v]) for v in by["accuracy"]],
                                     plots_dir / f"confidence_sweep-{backbone}.png")
        parts += ["### SASS confidence threshold", "", f"![confidence sweep](plots/{plot.name})",
                  "", "| threshold | FID | CAS % | downstream accuracy % |", "|---|---|---|---|"]
        parts += [f"| {c:g} | {format_mean_sd(fid, scale=1, digits=2)} | {format_mean_sd(cas)} | "
                  f"{format_mean_sd(acc_c)} |"
                  for c, fid, cas, acc_c in zip(thresholds, *by.values(), strict=True)]
        parts.append("")
    return parts


def _run_subject(path: Path) -> str:
    """The subject of a benchmark run folder ``s<subject>-seed<seed>``."""
    return path.name[1:].rpartition("-seed")[0]


def _run_order(path: Path) -> tuple:
    """Benchmark run folders ``s<subject>-seed<seed>`` by seed, then numeric subject."""
    subject, _, seed = path.name[1:].rpartition("-seed")
    return int(seed) if seed.isdigit() else 0, subject_key(subject)


def report_benchmark(out: str | Path, plot_subjects: list[str] | None = None) -> Path:
    """``report.md`` and ``results.csv`` for a benchmark directory (every finished cell)."""
    out = Path(out)
    cells = [load_json(p) for p in sorted((out / "cells").glob("*.json"))]
    if not cells:
        raise FileNotFoundError(f"{out / 'cells'}: no finished cell; run `sasgda benchmark`")
    settings = load_json_if(out / "benchmark.json")
    parts = [f"# sasgda benchmark: {settings.get('dataset', '?')}", "",
             "Accuracy and macro-F1 on the test part, mean ± sd over subjects (seeds averaged "
             "within a subject); Wilcoxon: paired two-sided test against `none` across subjects.",
             "", summary_table(cells, methods=settings.get("methods", ())), ""]
    for backbone in dict.fromkeys(c["backbone"] for c in cells):
        parts += [f"## {backbone}: accuracy per subject (%)", "",
                  subject_table(cells, backbone, methods=settings.get("methods", ())), ""]
    done = {(str(c["subject"]), c["method"], c["backbone"], int(c["seed"])) for c in cells}
    missing = [f"s{s}_{m}_{b}_seed{seed}" for s in settings.get("subjects", [])
               for seed in settings.get("seeds", []) for m in settings.get("methods", [])
               for b in settings.get("backbones", []) if (str(s), m, b, int(seed)) not in done]
    if missing:
        parts += ["## Not finished", "", f"{len(missing)} cell(s) of the grid have no result yet "
                  "and are not in the tables above (`sasgda benchmark` with the same "
                  "settings computes them):", "", ", ".join(missing), ""]
    quality = [load_json(path) for path in sorted((out / "runs").glob("*/metrics.json"))]
    if quality:
        means = mean_quality(quality)
        n_runs = len(quality)
        parts += [f"## Generation quality (mean over {n_runs} evaluated run"
                  f"{'s' * (n_runs != 1)})", "", quality_table(means), ""]
    # Waveforms and feature embedding of every run with synthetic sets (or of the subjects
    # asked for): the plots show what the data look like, the tables above carry the evidence.
    runs = [p for p in sorted((out / "runs").glob("*"), key=_run_order)
            if any((p / "synthetic").glob("*.npz"))
            and (plot_subjects is None or _run_subject(p) in map(str, plot_subjects))]
    for run in runs:
        plots = run_plots(RunDir(run), out / "plots" / run.name)
        parts += [f"## Plots: subject {_run_subject(run)}, {run.name}", ""]
        parts += [f"![{p.stem}](plots/{run.name}/{p.name})" for p in plots] + [""]
    for backbone, sweeps in load_sweeps(out).items():
        parts += sweep_section(backbone, sweeps, out / "plots")
    all_runs = [RunDir(p) for p in sorted((out / "runs").glob("*"), key=_run_order)]
    if all_runs:
        parts += ["## Stage times", "", "Wall-clock seconds, one torch thread per job; the "
                  "shared stages of each subject and seed, then each cell's downstream model.",
                  "", stage_time_table(all_runs), ""]
    atomic_write_text(out / "results.csv", _csv(cells))
    return atomic_write_text(out / "report.md", "\n".join(parts))
