"""SASG-DA end to end on MyoUP: augment none / real / label / gmss / sass with the CNN downstream,
all 8 subjects (intra-subject), 2 seeds. Writes bench/results/sasgda.md with accuracy mean ± sd,
the paired Wilcoxon test against `none`, the per-subject table and the time each stage took.

    python bench/sasgda_myoup.py [--jobs 2] [--subjects 1-8] [--seeds 0 1] [--set section.key=value]

Resumable: shared stages and finished cells under --out are reused on a rerun. Finished cells
are also kept in bench/results/sasgda-cells/ (committed, with the config that made them; the
cells of bench/benchmark.py on MyoUP go there too), so that a fresh checkout continues with the
missing subjects and seeds instead of starting over.
"""

from __future__ import annotations

import argparse
import platform
import shutil
from pathlib import Path

import numpy as np
import yaml

from sasgda.augment.classic import CLASSIC_AUGMENTATIONS
from sasgda.benchmark import NOT_COMPARED, Cell, cell_path, run_benchmark
from sasgda.config import build_config, changed_setting, dump_yaml
from sasgda.data import parse_subjects
from sasgda.evaluation.stats import paired_wilcoxon
from sasgda.stages import timings as stage_timings
from sasgda.utils.io import atomic_write_text, load_json, load_json_if, save_json
from sasgda.utils.rundir import RunDir
from sasgda.viz.tables import per_run, per_subject, subject_table, summary_table

ROOT = Path(__file__).resolve().parents[1]
MYOUP = ROOT.parent / "shared" / "data" / "myoup-ninapro"
OUT = ROOT / "runs" / "bench-sasgda"
CELLS = ROOT / "bench" / "results" / "sasgda-cells"  # committed copies of the finished cells
# Committed stage times, so that the time table survives without the run folders:
# {"s4-seed0": {"subjects": ["4"], "seeds": [0], "runs": 1, "timings_s": {stage: seconds}}, ...}
TIMINGS = ROOT / "bench" / "results" / "sasgda-timings.json"
METHODS = ["none", "real", "label", "gmss", "sass"]
CLASSIC = list(CLASSIC_AUGMENTATIONS)
OVERRIDES = ["data.dataset=myoup", "device=cpu"]  # otherwise the defaults


def bench_config(extra: list[str] = ()):
    return build_config(overrides=[*OVERRIDES, *extra])


# The reference: a 150-line prototype (GMSS conditions, 3,000 generator steps, DDIM 25,
# ratio 2, 3-layer CNN downstream, 2 seeds) on MyoUP subjects 1-7, accuracy %.
PROTOTYPE = {
    "none": [83.4, 89.6, 72.7, 84.7, 72.0, 81.1, 78.6],
    "real": [87.1, 91.6, 76.5, 86.3, 79.2, 85.6, 83.4],
    "gmss": [86.8, 91.5, 77.1, 85.6, 78.8, 85.3, 82.2],
}


def sync_cells(out: Path, config_yaml: str, into_out: bool) -> bool:
    """Copy finished cells between ``out/cells`` and the committed :data:`CELLS`.

    Only cells made with the same config: :data:`CELLS` keeps the config of its cells in
    ``config.yaml``, and cells of another config are neither imported nor mixed in. Copying
    back also merges the runs' stage times into :data:`TIMINGS`. Returns False (and copies
    nothing) when the committed cells belong to another config.
    """
    saved = CELLS / "config.yaml"
    # Compared setting by setting: a setting added since, at its null default, is no change.
    if saved.is_file() and (changed := changed_setting(yaml.safe_load(saved.read_text()),
                                                       yaml.safe_load(config_yaml), NOT_COMPARED)):
        print(f"{CELLS}: cells of another config ({changed}); not used (move them away to "
              "start afresh)")
        return False
    src, dst = (CELLS, out / "cells") if into_out else (out / "cells", CELLS)
    if not src.is_dir():
        return True
    dst.mkdir(parents=True, exist_ok=True)
    for path in src.glob("*.json"):
        if not (dst / path.name).is_file():
            shutil.copy2(path, dst / path.name)
    if not into_out:
        atomic_write_text(saved, config_yaml)
        save_json(TIMINGS, {**load_json_if(TIMINGS), **run_timings(out)})
    return True


def prototype_table(cells: list[dict]) -> str:
    """Ours against the prototype on the subjects both have (1-7)."""
    lines = ["| subject | " + " | ".join(f"{m} (ours / prototype)" for m in PROTOTYPE)
             + " | sass (ours) |", "|---|" + "---|" * (len(PROTOTYPE) + 1)]
    ours = {m: per_subject(cells, m, "cnn", "accuracy") for m in (*PROTOTYPE, "sass")}
    shared = [s for s in map(str, range(1, 8)) if all(s in ours[m] for m in ours)]
    for s in shared:
        row = [f"{100 * ours[m][s]:.1f} / {PROTOTYPE[m][int(s) - 1]:.1f}" for m in PROTOTYPE]
        lines.append(f"| {s} | " + " | ".join(row) + f" | {100 * ours['sass'][s]:.1f} |")
    if shared:
        row = [f"**{np.mean([100 * ours[m][s] for s in shared]):.1f} / "
               f"{np.mean([PROTOTYPE[m][int(s) - 1] for s in shared]):.1f}**" for m in PROTOTYPE]
        lines.append("| mean | " + " | ".join(row)
                     + f" | **{np.mean([100 * ours['sass'][s] for s in shared]):.1f}** |")
    return "\n".join(lines)


def classic_section(out: Path, subjects: list[str], seeds: list[int]) -> list[str]:
    """The classic augmentations (bench/benchmark.py's cells in the same folder) against
    `none`, GMSS and SASS: each classic's mean over the subjects that have it for a seed, the
    best classic over every seed, and the paired differences the issue asks for."""
    cells = [load_json(p) for p in (cell_path(out, Cell(s, m, "cnn", seed))
                                    for s in subjects for seed in seeds
                                    for m in ("none", *CLASSIC, "gmss", "sass")) if p.is_file()]
    if not any(c["method"] in CLASSIC for c in cells):
        return []

    runs = {m: per_run(cells, m, "cnn", "accuracy") for m in ("none", *CLASSIC, "gmss", "sass")}
    complete = {m: [seed for seed in seeds if all((s, seed) in runs[m] for s in subjects)]
                for m in CLASSIC}
    lines = ["| classic augmentation | seeds | accuracy % | vs none (points) |",
             "|---|---|---|---|"]
    rows = []
    for m in (m for m in CLASSIC if complete[m]):
        acc = np.mean([runs[m][s, seed] for s in subjects for seed in complete[m]])
        base = np.mean([runs["none"][s, seed] for s in subjects for seed in complete[m]])
        rows.append((-len(complete[m]), -acc, f"| {m} | {complete[m]} | {100 * acc:.1f} | "
                     f"{100 * (acc - base):+.1f} |"))
    lines += [line for *_, line in sorted(rows)]
    every = [m for m in CLASSIC if complete[m] == seeds]
    if not every:
        return ["## Classic augmentations", "", *lines, ""]

    def mean_over_seeds(method: str) -> dict:
        return {s: np.mean([runs[method][s, seed] for seed in seeds]) for s in subjects}

    best = max(every, key=lambda m: np.mean(list(mean_over_seeds(m).values())))
    pairs = [("sass", best), ("gmss", best), ("sass", "gmss"), (best, "none")]
    rows = ["| comparison | mean difference (points) | subjects ahead | Wilcoxon p |",
            "|---|---|---|---|"]
    for a, b in pairs:
        x, y = mean_over_seeds(a), mean_over_seeds(b)
        diff = [100 * (x[s] - y[s]) for s in subjects]
        p = paired_wilcoxon(list(x.values()), list(y.values()))
        rows.append(f"| {a} - {b} | {np.mean(diff):+.2f} | {sum(d > 0 for d in diff)} of "
                    f"{len(subjects)} | {p:.3f} |")
    return ["## Classic augmentations", "",
            "`python bench/benchmark.py --dataset myoup --methods <classic> --backbones cnn "
            "--seeds 0` (then `--seeds 1` for the best three): the same runs and config. Means "
            "over the subjects above, for the seeds each classic has; the best classic is chosen "
            "among those with every seed.", "", *lines, "",
            f"Best classic over seeds {seeds}: `{best}`. Paired over subjects (seeds averaged "
            "within a subject), two-sided:", "", *rows, ""]


def finished(cells: list[dict], subjects: list[str], seeds: list[int],
             methods: list[str]) -> tuple[list[dict], list[int], list[dict]]:
    """The cells to table while some seeds are unfinished: ``(cells, seeds, partial)``.

    Only (subject, seed) runs with every method count, so that the columns compare like with
    like. If every subject has every seed, that is all; otherwise the main tables take the
    first seed alone and ``partial`` holds the subjects that already have every seed.
    """
    done = {(s, seed) for s in subjects for seed in seeds
            if sum(c["subject"] == s and c["seed"] == seed for c in cells) == len(methods)}
    every_seed = [s for s in subjects if all((s, seed) in done for seed in seeds)]

    def of(subjects_: list[str], seeds_: list[int]) -> list[dict]:
        return [c for c in cells if c["subject"] in subjects_ and c["seed"] in seeds_]

    if every_seed == subjects or len(seeds) == 1:
        return of(every_seed, seeds), seeds, []
    first = [s for s in subjects if (s, seeds[0]) in done]
    return of(first, seeds[:1]), seeds[:1], of(every_seed, seeds)


def partial_section(cells: list[dict], seeds: list[int], methods: list[str]) -> list[str]:
    """The tables of the subjects that already have every seed, while others do not yet."""
    if not cells:
        return []
    subjects = ", ".join(dict.fromkeys(c["subject"] for c in cells))
    return [f"## Subjects with every seed so far ({subjects}; seeds {seeds})", "",
            "The other subjects' further seeds are not finished yet; these subjects' seeds are "
            "averaged, as above.", "", summary_table(cells, methods=methods), "",
            subject_table(cells, "cnn", methods=methods), ""]


def run_timings(out: Path) -> dict[str, dict]:
    """Stage times of every (subject, seed) run under ``out``, keyed as in :data:`TIMINGS`."""
    found = {}
    for info in sorted(out.glob("runs/s*-seed*/run_info.json")):
        subject, seed = info.parent.name[1:].rsplit("-seed", 1)
        timings = stage_timings(RunDir(info.parent))
        if timings:
            found[info.parent.name] = {"subjects": [subject], "seeds": [int(seed)], "runs": 1,
                                       "timings_s": timings}
    return found


def stage_times(entries: dict[str, dict], subjects: list[str], seeds: list[int],
                methods: list[str]) -> str:
    """Mean seconds per stage over the runs of ``subjects`` x ``seeds``.

    Only the shared stages and the downstream trainings of ``methods`` (the run folders also
    time the cells of bench/benchmark.py and the evaluation of bench/sweeps.py). An entry may
    stand for several runs by their mean (``runs`` > 1); it counts with that weight, for the
    stages its runs have not timed singly.
    """
    def wanted(stage: str) -> bool:
        if stage.startswith(("train-downstream", "downstream-")):
            return stage.split("-")[-1] in methods
        return stage.startswith(("prepare", "train-classifier", "train-generator", "generate"))

    def inside(entry: dict) -> bool:
        return set(entry["subjects"]) <= set(subjects) and set(entry["seeds"]) <= set(seeds)

    timed_singly = {(subject, seed, stage) for entry in entries.values() if entry["runs"] == 1
                    for subject in entry["subjects"] for seed in entry["seeds"]
                    for stage in entry["timings_s"]}
    total: dict[str, float] = {}
    runs: dict[str, int] = {}
    for entry in filter(inside, entries.values()):
        for stage, seconds in entry["timings_s"].items():
            if not wanted(stage) or (entry["runs"] > 1 and any(
                    (subject, seed, stage) in timed_singly
                    for subject in entry["subjects"] for seed in entry["seeds"])):
                continue
            total[stage] = total.get(stage, 0.0) + entry["runs"] * seconds
            runs[stage] = runs.get(stage, 0) + entry["runs"]
    lines = ["| stage | mean s per subject and seed | runs |", "|---|---|---|"]
    for stage in total:
        lines.append(f"| {stage} | {total[stage] / runs[stage]:.0f} | {runs[stage]} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--subjects", default="1-8")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report-only", action="store_true",
                        help="table the cells finished so far without computing more")
    args = parser.parse_args()

    cfg = bench_config(args.overrides)
    subjects = parse_subjects(args.subjects)
    config_yaml = dump_yaml(cfg)
    shared_cells = (args.out == OUT and not args.overrides
                    and sync_cells(args.out, config_yaml, into_out=True))
    if args.report_only:
        cells = [load_json(p) for p in (cell_path(args.out, Cell(s, m, "cnn", seed))
                                        for s in subjects for seed in args.seeds
                                        for m in args.methods) if p.is_file()]
    else:
        cells = run_benchmark(cfg, data_path=str(MYOUP), subjects=subjects,
                              methods=args.methods, backbones=["cnn"], seeds=args.seeds,
                              out=args.out, jobs=args.jobs)
    cells, seeds, partial = finished(cells, subjects, args.seeds, args.methods)
    subjects = list(dict.fromkeys(c["subject"] for c in cells))
    if shared_cells:
        sync_cells(args.out, config_yaml, into_out=False)  # also merges the runs into TIMINGS
    timings = load_json_if(TIMINGS) if shared_cells else run_timings(args.out)
    text = "\n".join([
        "# SASG-DA on MyoUP (intra-subject, CNN downstream)", "",
        f"Generated by `python bench/sasgda_myoup.py` ({platform.machine()} CPU, {args.jobs} "
        "jobs, one torch thread each). "
        f"Subjects {', '.join(subjects)}; seeds {seeds}; each seed "
        "trains its own classifier, generators and synthetic sets. Accuracy on the test "
        "repetitions 2 and 5, mean ± sd over subjects (seeds averaged within a subject); "
        "Wilcoxon: paired two-sided test against `none` across subjects.", "",
        "## Summary", "", summary_table(cells, methods=args.methods), "",
        "## Accuracy per subject (%)", "", subject_table(cells, "cnn", methods=args.methods), "",
        *partial_section(partial, args.seeds, args.methods),
        *classic_section(args.out, subjects, seeds),
        "## Against the issue's reference prototype (subjects 1-7, accuracy %)", "",
        "The prototype's numbers are the issue's (2 seeds); ours are those of the seeds above.",
        "", prototype_table(cells), "",
        "## Time per stage", "",
        "Wall-clock seconds of each stage, one torch thread; they grow when other jobs share the "
        "cores.", "", stage_times(timings, subjects, args.seeds, args.methods), "",
        "## Config", "", "```yaml", config_yaml.strip(), "```", "",
    ])
    atomic_write_text(ROOT / "bench" / "results" / "sasgda.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
