"""Generator training steps against quality: does the semantic generator reach the quality of the
default 3,000 optimiser steps sooner? Issue 19's quality-against-steps curve.

    python bench/generator_steps.py [--subjects 1-4] [--seed 1] [--steps 500 1000 1500]
                                    [--downstream 1000 1500] [--windows 1000] [--jobs 2]
                                    [--set generator.KEY=VALUE ...]

For each finished run of `bench/sasgda_myoup.py` (its windows, classifier and features linked,
only read) a new generator is trained with the run's settings and seed, stopping at each of
``--steps``. Training resumes from its checkpoint and the learning rate is constant, so a
1,500-step generator is the first 1,500 steps of a 3,000-step one; the loss log is compared with
the run's own to show it. Each snapshot, and the run's own 3,000-step generator, samples the same
real-feature conditions from the same noise with the run's sampler (bench/sampler.py's
`Reference`): recognition by the task-aware classifier, FID of its features, RMS ratio. At each
``--downstream`` step count a GMSS set is generated and the CNN trained on it through
`pipeline.ensure`, as `sasgda run` does, beside the committed 3,000-step cell. Run folders in
runs/generator-steps/, one result file per subject in bench/results/generator-steps/
(resumable, and each step count's figures are kept in the run folder as they come), table in
bench/results/generator-steps.md. With ``--set`` overrides of the generator's training (its
learning rate, say), the new generators train with them and their folders, results and table
are named after the overrides' values (``generator-steps-<values>``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from retrain import benchmark_run, committed_accuracy, paired_line, run_cells
from sampler import Reference  # bench/ is on sys.path for bench scripts

from sasgda import pipeline
from sasgda.config import build_config, replace
from sasgda.data import parse_subjects
from sasgda.diffusion import load_generator
from sasgda.stages import artifact
from sasgda.utils.io import load_json, save_json
from sasgda.utils.rundir import linked_run
from sasgda.utils.tasks import Task

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("data", "classifier", "semantic/features.npz")
DEFAULT_STEPS = 3000  # the committed runs' generators


def _losses(path: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, path.read_text().splitlines())}


def subject_curve(subject: str, seed: int, steps: list[int], downstream: list[int],
                  n_windows: int, overrides: list[str], name: str) -> dict:
    """Quality of the subject's generator at each step count, and CNN accuracy with GMSS sets
    from it at the ``downstream`` counts."""
    base = benchmark_run(subject, seed)
    cfg = build_config([base.config], overrides)
    cfg = replace(cfg, device="cpu", downstream=replace(cfg.downstream, backbone="cnn",
                                                        augment="gmss"))
    run = linked_run(base, ROOT / "runs" / name / base.root.name, INPUTS)
    device = torch.device("cpu")
    ref = Reference.of(base.root, n_windows)
    points = {}
    for k in sorted(set(steps) | set(downstream)):
        done = run.root / f"steps-{k}.json"
        if not done.is_file():
            cfg_k = replace(cfg, generator=replace(cfg.generator, steps=k))
            start = time.perf_counter()
            pipeline.train_generator(cfg_k, run, device, progress=False)
            point = {"train_seconds": time.perf_counter() - start,
                     **ref.quality(load_generator(run.generator_dir("semantic"), "cpu"))}
            if k in downstream:
                stage = "downstream-cnn-gmss"
                pipeline.ensure(cfg_k, run, device, stage, progress=False)
                point["accuracy"] = load_json(artifact(run, stage))["accuracy"]
            save_json(done, point)
        points[k] = load_json(done)
        print(subject, k, points[k], flush=True)
    own = {**ref.quality(load_generator(base.generator_dir("semantic"), "cpu")),
           "accuracy": committed_accuracy(subject, "gmss", "cnn", seed)}
    points.setdefault(DEFAULT_STEPS, own)  # unless the new settings trained that long too
    ours, theirs = (_losses(r.generator_dir("semantic") / "metrics.jsonl") for r in (run, base))
    common = ours.keys() & theirs.keys()
    return {"subject": subject, "seed": seed, "points": {str(k): p for k, p in points.items()},
            "own": own,
            "none": committed_accuracy(subject, "none", "cnn", seed),
            "loss_max_abs_diff": max((abs(ours[s] - theirs[s]) for s in common),
                                     default=float("nan"))}


def _label(k: int | str) -> str:
    return f"{k:,}" if isinstance(k, int) else k


def report(rows: list[dict], seed: int, command: str, overrides: list[str]) -> str:
    rows = sorted(rows, key=lambda r: int(r["subject"]))
    counts = sorted({int(k) for r in rows for k in r["points"]})
    but = f" but {', '.join(overrides)}," if overrides else ""
    # The runs' own generators get a row of their own where the new settings also trained for
    # the full 3,000 steps; otherwise they are the 3,000-step row.
    own = any(r.get("own", r["points"][str(DEFAULT_STEPS)]) != r["points"][str(DEFAULT_STEPS)]
              for r in rows)
    theirs = "\"run's own\"" if own else f"{DEFAULT_STEPS:,}"
    lines = ["# Generator training steps against quality", "",
             f"Generated by `{command}`: MyoUP, the runs of `bench/sasgda_myoup.py` (seed "
             f"{seed}), a new generator with their settings{but} and seed stopped "
             f"at each step count; {theirs} is the run's own generator and its committed "
             "cell. Quality: the same real-feature conditions and noise for every generator, "
             "the runs' own sampler; recognition by the task-aware classifier (%), FID of its "
             "features against the real training windows, RMS over real. Accuracy: the CNN "
             "trained with a GMSS set from that generator (%).", "",
             "| subject | steps | train s | recognition % | FID | RMS ratio | CNN gmss % |",
             "|---|---|---|---|---|---|---|"]
    labels = [*counts, *(["run's own"] if own else [])]

    def point(r: dict, k: int | str) -> dict | None:
        return r["own"] if k == "run's own" else r["points"].get(str(k))

    for r in rows:
        for k in labels:
            p = point(r, k)
            if p is None:
                continue
            acc = f"{100 * p['accuracy']:.1f}" if "accuracy" in p else ""
            secs = f"{p['train_seconds']:.0f}" if "train_seconds" in p else ""
            lines.append(f"| {r['subject']} | {_label(k)} | {secs} | "
                         f"{100 * p['recognition']:.1f} | {p['fid']:.2f} | "
                         f"{p['rms_ratio']:.3f} | {acc} |")
    lines += ["", f"Means over the {len(rows)} subjects (none: "
              f"{100 * np.mean([r['none'] for r in rows]):.1f} %):", "",
              "| steps | recognition % | FID | RMS ratio | CNN gmss % |", "|---|---|---|---|---|"]
    for k in labels:
        ps = [p for r in rows if (p := point(r, k)) is not None]
        accs = [p["accuracy"] for p in ps if "accuracy" in p]
        acc = f"{100 * np.mean(accs):.1f}" if len(accs) == len(rows) else ""
        lines.append(f"| {_label(k)} | {100 * np.mean([p['recognition'] for p in ps]):.1f} | "
                     f"{np.mean([p['fid'] for p in ps]):.2f} | "
                     f"{np.mean([p['rms_ratio'] for p in ps]):.3f} | {acc} |")
    lines.append("")
    final = "run's own" if own else DEFAULT_STEPS
    for k in counts:
        if len(rows) > 1 and k != final and all(
                "accuracy" in (point(r, k) or {}) for r in rows):
            new, old = (np.array([point(r, c)["accuracy"] for r in rows]) for c in (k, final))
            what = "the run's own" if own else f"{DEFAULT_STEPS:,} steps"
            lines.append(paired_line(f"CNN gmss, {k:,} - {what}", new, old))
    if rows:
        lines += ["", "Largest difference of the new generators' training losses from the runs' "
                  f"own at the same steps: {max(r['loss_max_abs_diff'] for r in rows):.2g}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", default="1-4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 1500])
    parser.add_argument("--downstream", type=int, nargs="+", default=[1000, 1500])
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="generator.KEY=VALUE")
    args = parser.parse_args()
    for override in args.overrides:
        if not override.startswith("generator."):
            parser.error(f"--set {override}: only generator settings change here")
    name = "-".join(["generator-steps", *(o.split("=", 1)[1] for o in args.overrides)])
    out = ROOT / "bench" / "results" / name
    torch.set_num_threads(1)  # as the benchmark's cells ran: one thread per job
    tasks = {out / f"s{s}_seed{args.seed}.json":
             Task(subject_curve, (s, args.seed, args.steps, args.downstream, args.windows,
                                  args.overrides, name))
             for s in parse_subjects(args.subjects)}
    command = " ".join(["python bench/generator_steps.py", *sys.argv[1:]])

    def table(_: list[dict]) -> str:  # every subject finished so far, by any command
        return report([load_json(p) for p in out.glob(f"s*_seed{args.seed}.json")], args.seed,
                      command, args.overrides)

    run_cells(tasks, out.parent / f"{name}.md", table, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
