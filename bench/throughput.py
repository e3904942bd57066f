"""Throughput: the pipeline against the reference prototype, the sampler, a NinaPro-DB2-shaped
subject and the demo, each timed in its own process with its peak memory.

    python bench/throughput.py [--parts sampling patch myoup prototype db2 demo] [--again]
                               [--set section.key=value ...]

Parts:
- ``myoup``: `sasgda run` on MyoUP subject 5 with the defaults (classifier, semantic generator,
  GMSS and SASS sets, downstream none / gmss / sass, CNN), stage seconds from the run folder;
- ``prototype``: ../shared/reference/prototype_srg.py 5 (its figures also go to
  bench/results/reference-gap/prototype-s5.json);
- ``sampling``: windows/s of the default generator and sampler at 8 x 40 and 12 x 400 (timing
  does not depend on the weights, so the generator is untrained);
- ``patch``: the generator layout lever, ``generator.patch`` 1, 2 and 4: optimiser steps/s and
  sampling windows/s at both sizes;
- ``db2``: `sasgda run` on a simulated subject shaped like NinaPro DB2 (12 channels, 2 kHz,
  200 ms windows, 49 gestures, 6 repetitions of 5 s);
- ``demo``: `sasgda demo` in a fresh run folder.

Every part uses both cores (torch's default threads). ``--set`` changes a setting of the
`sasgda` parts (myoup, db2, demo), say ``generator.patch=4``; the part keeps it beside its
figures. Results are merged into bench/results/throughput.json as parts finish (a part already
there is skipped unless --again), and bench/results/throughput.md is written from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sasgda.stages import timings as stage_timings
from sasgda.utils.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
JSON = RESULTS / "throughput.json"
MYOUP = ROOT.parent / "shared" / "data" / "myoup-ninapro"
PROTOTYPE = ROOT.parent / "shared" / "reference" / "prototype_srg.py"
OUT = ROOT / "runs" / "throughput"
PARTS = ("sampling", "patch", "myoup", "prototype", "db2", "demo")
DB2_SHAPE = ["data.sim_chans=12", "data.sim_fs_hz=2000", "data.sim_gestures=49",
             "data.sim_repetitions=6", "data.sim_rep_seconds=5", "data.sim_subjects=1"]
SUBJECT = "5"


def timed(cmd: list[str]) -> dict:
    """Run ``cmd``; its wall seconds and peak resident memory (MiB). Fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)}: failed (exit {os.waitstatus_to_exitcode(status)})")
    # ru_maxrss is in KiB on Linux.
    return {"seconds": round(seconds, 1), "peak_mib": round(usage.ru_maxrss / 1024),
            "stdout": stdout}


# Settings of the `sasgda` parts (--set), as `section.key=value`.
SETTINGS: list[str] = []


def set_flags(settings: list[str]) -> list[str]:
    """``--set`` before each ``section.key=value``, as `sasgda` takes them."""
    return [arg for setting in settings for arg in ("--set", setting)]


def sasgda_run(name: str, args: list[str]) -> dict:
    run = OUT / name
    shutil.rmtree(run, ignore_errors=True)
    result = timed([sys.executable, "-m", "sasgda", *args, *set_flags(SETTINGS), "--run-dir",
                    str(run), "--quiet"])
    result["settings"] = list(SETTINGS)
    result["stages_s"] = {k: round(v, 1) for k, v in stage_timings(RunDir(run)).items()}
    report = run / "report.md"
    result["report"] = report.read_text() if report.is_file() else ""
    del result["stdout"]
    return result


def part_myoup() -> dict:
    return sasgda_run("myoup", ["run", "--dataset", "myoup", "--data", str(MYOUP), "--subject",
                                SUBJECT, "--device", "cpu", "--methods", "none", "gmss", "sass"])


def part_prototype() -> dict:
    result = timed([sys.executable, str(PROTOTYPE), SUBJECT])
    figures = json.loads(result.pop("stdout").strip().splitlines()[-1])
    cells = RESULTS / "reference-gap"
    cells.mkdir(parents=True, exist_ok=True)
    (cells / f"prototype-s{SUBJECT}.json").write_text(json.dumps(figures, indent=1) + "\n")
    return {**result, "figures": figures}


def part_db2() -> dict:
    return sasgda_run("db2", ["run", "--dataset", "simulated", "--subject", "1", "--device",
                              "cpu", "--methods", "none", "gmss", "sass", *set_flags(DB2_SHAPE)])


def part_demo() -> dict:
    return sasgda_run("demo", ["demo", "--device", "cpu"])


def part_sampling() -> dict:
    """Windows per second of the default sampler, of the former default (DPM-Solver++ at 25
    steps) and of bf16 autocast, interleaved in one child process so that they share the
    machine's drift."""
    code = """
import json, time, numpy as np, torch
from sasgda.config import Config, replace
from sasgda.diffusion import build_generator, sample_with_config
cfg = Config(); g = cfg.sampler
variants = {"default": cfg, "dpm 25": replace(cfg, sampler=replace(g, solver="dpm", steps=25)),
            "bf16": replace(cfg, precision="bf16")}
out = {"levers": {}}
for chans, n_times, n in ((8, 40, 2048), (12, 400, 256)):
    torch.manual_seed(0)
    model = build_generator(cfg.generator, n_chans=chans, cond_dim=cfg.classifier.feat_dim,
                            n_classes=2).eval()
    cond = np.random.default_rng(0).standard_normal((n, cfg.classifier.feat_dim)).astype('f4')
    best = {name: 0.0 for name in variants}
    for name, c in variants.items():  # warm-up
        sample_with_config(model, cond[:g.batch_size], n_times=n_times, cfg=c, progress=False)
    for _ in range(2):
        for name, c in variants.items():
            start = time.perf_counter()
            sample_with_config(model, cond, n_times=n_times, cfg=c, progress=False)
            best[name] = max(best[name], n / (time.perf_counter() - start))
    key = f"{chans}x{n_times}"
    out[key] = round(best["default"], 1)
    out["levers"][key] = {name: round(v, 1) for name, v in best.items()}
out["sampler"] = f"{g.solver} {g.steps} steps, batch {g.batch_size}"
print(json.dumps(out))
"""
    result = timed([sys.executable, "-c", code])
    measured = json.loads(result.pop("stdout").strip().splitlines()[-1])
    return {**result, **measured}


def part_patch() -> dict:
    """The generator layout lever: optimiser steps/s (batch 128, from the training's own
    metrics log, set-up left out) and sampling windows/s of the default generator with
    ``generator.patch`` 1, 2 and 4, at 8 x 40 and 12 x 400; the three interleaved in one child
    process, best of two passes. Timing does not depend on the data or the weights, so the
    windows, features and generators are random."""
    code = """
import json, tempfile, time, numpy as np
from pathlib import Path
from sasgda.config import Config, replace
from sasgda.diffusion import build_generator, fit_generator, sample_with_config
cfg = Config()
out = {"train_steps_per_s": {}, "sample_windows_per_s": {}}
for chans, n_times, steps, n in ((8, 40, 100, 2048), (12, 400, 50, 256)):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, chans, n_times)).astype('f4')
    cond = rng.standard_normal((max(n, 1024), cfg.classifier.feat_dim)).astype('f4')
    train, sample = {}, {}
    for _ in range(2):
        for patch in (1, 2, 4):
            g, name = replace(cfg.generator, patch=patch, steps=steps), f"patch {patch}"
            with tempfile.TemporaryDirectory() as tmp:
                log = Path(tmp) / "metrics.jsonl"
                fit_generator(g, x, cond[:1024], n_classes=2, cond_dim=cfg.classifier.feat_dim,
                              seed=0, device="cpu", progress=False, metrics_path=log)
                last = json.loads(log.read_text().splitlines()[-1])
            train[name] = round(max(train.get(name, 0), last["step"] / last["seconds"]), 2)
            model = build_generator(g, n_chans=chans, cond_dim=cfg.classifier.feat_dim,
                                    n_classes=2).eval()
            start = time.perf_counter()
            sample_with_config(model, cond[:n], n_times=n_times, cfg=cfg, progress=False)
            sample[name] = round(max(sample.get(name, 0), n / (time.perf_counter() - start)), 1)
    out["train_steps_per_s"][f"{chans}x{n_times}"] = train
    out["sample_windows_per_s"][f"{chans}x{n_times}"] = sample
print(json.dumps(out))
"""
    result = timed([sys.executable, "-c", code])
    measured = json.loads(result.pop("stdout").strip().splitlines()[-1])
    return {**result, **measured}


def summary(results: dict) -> dict:
    """The issue's keys, from the parts finished so far."""
    get = lambda part, key: results.get(part, {}).get(key)  # noqa: E731
    return {
        "myoup_subject_seconds": get("myoup", "seconds"),
        "prototype_seconds": get("prototype", "seconds"),
        "sample_windows_per_s": {k: get("sampling", k) for k in ("8x40", "12x400")},
        "db2_subject_seconds": get("db2", "seconds"),
        "demo_seconds": get("demo", "seconds"),
    }


def report(results: dict) -> str:
    s = summary(results)
    rows = [
        ("MyoUP subject 5 end to end (`sasgda run`, none / gmss / sass)", "myoup", "<= 480 s"),
        ("reference prototype, subject 5", "prototype", ""),
        ("NinaPro-DB2-shaped simulated subject end to end", "db2", "<= 1800 s"),
        ("`sasgda demo`", "demo", "<= 180 s"),
    ]
    lines = ["# Throughput", "",
             f"Generated by `python bench/throughput.py` ({platform.machine()}, {os.cpu_count()} "
             "CPUs, torch's default threads); each part in its own process, timed wall-clock "
             "with its peak resident memory. Timings on this machine drift by up to a third.",
             "", "| part | seconds | peak MiB | target |", "|---|---|---|---|"]
    for label, part, target in rows:
        r = results.get(part)
        if r and r.get("settings"):
            label += " with " + ", ".join(f"`{s}`" for s in r["settings"])
        lines.append(f"| {label} | {r['seconds'] if r else 'not run'} | "
                     f"{r['peak_mib'] if r else ''} | {target} |")
    if s["myoup_subject_seconds"] and s["prototype_seconds"]:
        lines += ["", f"Pipeline / prototype wall time: "
                      f"{s['myoup_subject_seconds'] / s['prototype_seconds']:.2f}."]
    sampling = results.get("sampling")
    lines += ["", "## Sampling", ""]
    if sampling:
        lines += [f"Default generator and sampler ({sampling['sampler']}): "
                  f"{sampling['8x40']} windows/s at 8 x 40 (target 500), {sampling['12x400']} "
                  f"at 12 x 400 (target 40); peak {sampling['peak_mib']} MiB."]
        if "levers" in sampling:  # best of two interleaved passes each
            lines += ["", "| windows/s | " + " | ".join(sampling["levers"]) + " |",
                      "|---|" + "---|" * len(sampling["levers"])]
            for name in next(iter(sampling["levers"].values())):
                lines.append(f"| {name} | " + " | ".join(
                    str(v[name]) for v in sampling["levers"].values()) + " |")
    else:
        lines += ["not run"]
    if patch := results.get("patch"):
        # One column per (measure, window size): train 8x40, train 12x400, sample 8x40, ...
        columns = [(f"{label} {size}", by_layout)
                   for label, measure in (("train", "train_steps_per_s"),
                                          ("sample", "sample_windows_per_s"))
                   for size, by_layout in patch[measure].items()]
        lines += ["", "## Generator layout: `generator.patch`", "",
                  "Optimiser steps/s at batch 128 and sampling windows/s (default sampler), best "
                  f"of two interleaved passes; measured {patch['measured']}"
                  + (f", {patch['note']}" if patch.get("note") else "") + ".", "",
                  "| | " + " | ".join(title for title, _ in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for name in columns[0][1]:
            lines.append(f"| {name} | " + " | ".join(str(v[name]) for _, v in columns) + " |")
    for part in ("myoup", "db2", "demo"):
        if part in results:
            lines += ["", f"## Stages: {part}", "", "| stage | seconds |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in results[part]["stages_s"].items()]
            if results[part].get("report"):
                lines += ["", results[part]["report"].split("## Stage timings")[0].strip()
                          .split("\n", 1)[-1].strip()]
    if "prototype" in results:
        lines += ["", "## Prototype figures (subject 5)", "", "```",
                  json.dumps(results["prototype"]["figures"]), "```"]
    lines += ["", "## Keys", "", "```json", json.dumps(s, indent=1), "```", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--again", action="store_true", help="rerun parts already measured")
    parser.add_argument("--note", help="how the machine was loaded, kept with the parts run")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a setting of the sasgda parts (myoup, db2, demo); repeatable")
    args = parser.parse_args()
    SETTINGS.extend(args.set)
    from sasgda.utils.io import atomic_write_text, load_json_if, save_json

    results = load_json_if(JSON).get("parts", {})
    for part in args.parts:
        if part in results and not args.again:
            continue
        print(f"{part} ...", flush=True)
        results[part] = {**globals()[f"part_{part}"](), "measured": time.strftime("%Y-%m-%d"),
                         **({"note": args.note} if args.note else {})}
        save_json(JSON, {**summary(results), "parts": results})
        atomic_write_text(RESULTS / "throughput.md", report(results))
    atomic_write_text(RESULTS / "throughput.md", report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
