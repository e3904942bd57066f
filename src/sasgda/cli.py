"""Command-line front end: parse, seed, call a pipeline stage. Nothing else lives here.

Bad input or usage exits with code 2 and one line on stderr; no traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from sasgda import __version__

log = logging.getLogger("sasgda")


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument("--config", action="append", default=[], metavar="FILE.yaml",
                       help="YAML config file(s), applied in order")
    group.add_argument("--set", action="append", default=[], dest="overrides",
                       metavar="SECTION.KEY=VALUE", help="override one config value (repeatable)")
    group.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                       help="compute device (default: auto = CUDA when present)")
    group.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    group.add_argument("--quiet", action="store_true", help="no progress bars or summaries")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sasgda",
        description="Semantic-guided diffusion augmentation (SASG-DA) for sEMG gesture data.",
    )
    parser.add_argument("--version", action="version", version=f"sasgda {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("datasets", help="list known datasets and their defaults")

    p = sub.add_parser("prepare", help="load, filter, window and split one subject")
    p.add_argument("--dataset", required=True, help="a name from `sasgda datasets`")
    p.add_argument("--data", default=None, help="folder (or file) with the dataset's files")
    p.add_argument("--subject", required=True, help="subject id (myo-readings: participant)")
    p.add_argument("--run-dir", required=True, type=Path, help="where the run's files go")
    p.add_argument("--protocol", default=None,
                   help="intra-subject (default) | cross-session | cross-subject")
    _common(p)

    p = sub.add_parser("train-classifier",
                       help="train the task-aware classifier and extract semantic features")
    p.add_argument("--run-dir", required=True, type=Path, help="a run directory after prepare")
    p.add_argument("--backbone", default=None, help="classifier backbone (default cnn)")
    _common(p)

    p = sub.add_parser("train-downstream", help="train and test a downstream classifier")
    p.add_argument("--run-dir", required=True, type=Path, help="a run directory after prepare")
    p.add_argument("--backbone", default=None, help="cnn | crossformer | tdct | stcnet")
    p.add_argument("--augment", default=None,
                   help="none | a classic augmentation | real | label | gmss | sass")
    p.add_argument("--ratio", type=float, default=None,
                   help="extra windows per real training window (default 2.0)")
    _common(p)

    p = sub.add_parser("train-generator", help="train the conditional diffusion model (SRG)")
    p.add_argument("--run-dir", required=True, type=Path, help="a run directory after prepare")
    p.add_argument("--condition", choices=("semantic", "label"), default=None,
                   help="semantic features (SRG, default) or class labels (baseline)")
    _common(p)

    p = sub.add_parser("generate", help="generate a synthetic set")
    p.add_argument("--run-dir", required=True, type=Path, help="a run directory")
    p.add_argument("--strategy", required=True, choices=("real", "label", "gmss", "sass"),
                   help="where conditions come from")
    p.add_argument("--ratio", type=float, default=None,
                   help="synthetic windows per real training window (default 2.0)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default 15)")
    p.add_argument("--solver", choices=("unipc", "dpm", "ddim"), default=None,
                   help="sampler (default unipc; dpm: multistep DPM-Solver++)")
    _common(p)

    p = sub.add_parser("evaluate", help="generation-quality metrics of every synthetic set")
    p.add_argument("--run-dir", required=True, type=Path, help="a run directory")
    p.add_argument("--strategies", nargs="+", default=None,
                   help="synthetic sets to evaluate (default: every one in the run)")
    _common(p)

    p = sub.add_parser("run", help="every stage for one subject, then the accuracy table")
    p.add_argument("--dataset", required=True, help="a name from `sasgda datasets`")
    p.add_argument("--data", default=None, help="folder (or file) with the dataset's files")
    p.add_argument("--subject", required=True, help="subject id")
    p.add_argument("--run-dir", required=True, type=Path, help="where the run's files go")
    p.add_argument("--protocol", default=None, help="intra-subject | cross-session | ...")
    p.add_argument("--methods", nargs="+", default=None,
                   help="augmentations to train the downstream model with (default none gmss)")
    _common(p)

    p = sub.add_parser("benchmark", help="subjects x methods x backbones x seeds grid")
    p.add_argument("--dataset", required=True, help="a name from `sasgda datasets`")
    p.add_argument("--data", default=None, help="folder with the dataset's files")
    p.add_argument("--subjects", required=True, help="e.g. 1-8 or 1,3,5")
    p.add_argument("--out", required=True, type=Path, help="benchmark directory")
    p.add_argument("--protocol", default=None, help="intra-subject | cross-session | ...")
    p.add_argument("--methods", nargs="+", default=["none", "gmss"],
                   help="none, classic augmentations, real, label, gmss, sass (default none gmss)")
    p.add_argument("--backbones", nargs="+", default=["cnn"],
                   help="cnn crossformer tdct stcnet")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="cells in parallel processes")
    p.add_argument("--quality", action="store_true",
                   help="also the generation-quality metrics (FID, CAS, ...) of every synthetic "
                   "set, for the report's quality table")
    _engine_options(p)
    _common(p)

    p = sub.add_parser("sweep", help="accuracy vs synthetic ratio and the SASS confidence sweep "
                       "on a benchmark's runs")
    p.add_argument("--out", required=True, type=Path, help="benchmark directory")
    p.add_argument("--subjects", required=True, help="e.g. 1-3 or 1,3,5")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (default 0)")
    p.add_argument("--backbone", default="cnn", help="downstream model (default cnn)")
    p.add_argument("--ratios", nargs="+", type=float, default=[0.5, 1.0],
                   help="synthetic-to-real ratios besides 0 and the benchmark's own")
    p.add_argument("--ratio-methods", nargs="+", default=["gmss", "sass"],
                   help="generative methods of the ratio sweep")
    p.add_argument("--confidences", nargs="+", type=float, default=[0.05, 0.15, 0.25],
                   help="SASS confidence thresholds")
    p.add_argument("--jobs", type=int, default=1, help="subjects in parallel processes")
    _engine_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars or summaries")

    p = sub.add_parser("report", help="tables (markdown + csv) and plots")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--run-dir", type=Path, help="report on one run directory")
    where.add_argument("--out", type=Path, help="report on a benchmark directory")
    p.add_argument("--plot-subjects", nargs="+", default=None, metavar="S",
                   help="with --out: plots of these subjects only (default: every subject)")
    p.add_argument("--quiet", action="store_true", help="print nothing")

    p = sub.add_parser("demo", help="the pipeline on built-in simulated data")
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"),
                   help="where the demo's files go (default runs/demo)")
    _common(p)
    return parser


def _resolve_config(args: argparse.Namespace, flags: dict | None = None,
                    defaults: dict | None = None):
    """Defaults < ``defaults`` (the demo's) < the run's saved config.yaml < --config files <
    --set < the command's ``flags`` (``--ratio``, ``--dataset``, ...) < --seed and --device."""
    from sasgda.config import build_config, load_yaml, merge, replace

    saved_values = {}
    run_dir = getattr(args, "run_dir", None)
    saved = Path(run_dir) / "config.yaml" if run_dir is not None else None
    if saved is not None and saved.is_file() and args.command not in ("prepare", "demo"):
        saved_values = load_yaml(saved)
    cfg = build_config(args.config, args.overrides, merge(defaults or {}, saved_values),
                       top=flags)
    if args.seed is not None:
        cfg = replace(cfg, seed=args.seed)
    if args.device is not None:
        cfg = replace(cfg, device=args.device)
    return cfg


# The commands that a multi-process launch (torchrun, accelerate launch) can share out.
MULTI_PROCESS = ("train-generator", "generate")


def _setup(args: argparse.Namespace, flags: dict | None = None,
           defaults: dict | None = None):
    """Resolve and check the config, seed once, pick the device (this process's own under a
    multi-process launch)."""
    from sasgda.api import check_names
    from sasgda.utils import resolve_device, seed_everything
    from sasgda.utils.device import join_processes, world_size

    if world_size() > 1 and args.command not in MULTI_PROCESS:
        raise ValueError(f"WORLD_SIZE={world_size()}: only {' and '.join(MULTI_PROCESS)} run on "
                         "several processes; run the other commands as one")
    cfg = _resolve_config(args, flags, defaults)
    check_names(cfg)
    seed_everything(cfg.seed)
    device = join_processes(resolve_device(cfg.device))
    return cfg, device


def cmd_datasets(args: argparse.Namespace) -> None:
    from sasgda.data import describe_datasets

    print(describe_datasets())


def cmd_prepare(args: argparse.Namespace) -> None:
    from sasgda import pipeline
    from sasgda.utils.rundir import RunDir

    data = {"dataset": args.dataset}
    if args.protocol:
        data["protocol"] = args.protocol
    cfg, device = _setup(args, {"data": data})
    run = RunDir(args.run_dir)
    pipeline.start_run(cfg, run, str(device))
    pipeline.prepare(cfg, run, args.data, args.subject)


@contextmanager
def _existing_run(args: argparse.Namespace, flags: dict | None = None):
    """Config, device and run directory of a command that works on an existing run.

    The resolved config is saved as the run's ``config.yaml`` only once the command has
    succeeded: a command that fails (on a bad ``--set``, say) must not change the settings that
    later commands on the run inherit.
    """
    from sasgda.config import build_config, dump_yaml, to_dict
    from sasgda.utils.device import is_main_process
    from sasgda.utils.rundir import RunDir

    run = RunDir(args.run_dir)
    run.require(run.config, "prepare")
    cfg, device = _setup(args, flags)
    # The windows on disk were made with the saved data settings; a change here would be
    # ignored by this command yet saved, and the config would no longer describe the data.
    saved_data = to_dict(build_config([run.config]).data)
    changed = [k for k, v in to_dict(cfg.data).items() if saved_data[k] != v]
    if changed:
        raise ValueError(f"data.{changed[0]}: the run's windows were made with "
                         f"{saved_data[changed[0]]!r}; data settings change with "
                         "`sasgda prepare` (or `sasgda run`), not here")
    main = is_main_process()
    if main:
        run.record_environment(cfg.seed, str(device))
    yield cfg, device, run
    if main:
        run.write_config(dump_yaml(cfg))


def cmd_train_classifier(args: argparse.Namespace) -> None:
    from sasgda import pipeline

    base = {"classifier": {"backbone": args.backbone}} if args.backbone else {}
    with _existing_run(args, base) as (cfg, device, run):
        pipeline.train_classifier(cfg, run, device, progress=not args.quiet)


def cmd_train_downstream(args: argparse.Namespace) -> None:
    from sasgda import pipeline

    downstream = {k: v for k, v in (("backbone", args.backbone), ("augment", args.augment),
                                    ("synthetic_ratio", args.ratio)) if v is not None}
    with _existing_run(args, {"downstream": downstream}) as (cfg, device, run):
        pipeline.train_downstream(cfg, run, device, progress=not args.quiet)


def cmd_train_generator(args: argparse.Namespace) -> None:
    from sasgda import pipeline

    with _existing_run(args) as (cfg, device, run):
        pipeline.train_generator(cfg, run, device, args.condition, progress=not args.quiet)


def cmd_generate(args: argparse.Namespace) -> None:
    from sasgda import pipeline

    sampler = {k: v for k, v in (("ratio", args.ratio), ("steps", args.steps),
                                 ("solver", args.solver)) if v is not None}
    with _existing_run(args, {"sampler": sampler}) as (cfg, device, run):
        pipeline.generate(cfg, run, device, args.strategy, progress=not args.quiet)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from sasgda import pipeline

    with _existing_run(args) as (cfg, device, run):
        strategies = tuple(args.strategies) if args.strategies else None
        pipeline.evaluate(cfg, run, device, progress=not args.quiet, strategies=strategies)


def _run_all(args, cfg, device, run, data_path, subject) -> None:
    from sasgda import pipeline
    from sasgda.benchmark import check_methods

    methods = tuple(getattr(args, "methods", None) or pipeline.DEFAULT_METHODS)
    check_methods(methods)
    pipeline.start_run(cfg, run, str(device))
    table = pipeline.run_all(cfg, run, device, data_path, subject, progress=not args.quiet,
                             methods=methods)
    print(table)


def cmd_run(args: argparse.Namespace) -> None:
    from sasgda.utils.rundir import RunDir

    data = {"dataset": args.dataset}
    if args.protocol:
        data["protocol"] = args.protocol
    cfg, device = _setup(args, {"data": data})
    _run_all(args, cfg, device, RunDir(args.run_dir), args.data, args.subject)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("process", "ray"), default="process",
                   help="process: a pool of --jobs processes here; ray: Ray tasks (pip install "
                   "-e \".[scale]\")")
    p.add_argument("--address", default=None,
                   help="with --engine ray: the Ray cluster to join (default: a local Ray of "
                   "--jobs CPUs)")


def cmd_benchmark(args: argparse.Namespace) -> None:
    from sasgda.benchmark import run_benchmark
    from sasgda.data import parse_subjects

    data = {"dataset": args.dataset}
    if args.protocol:
        data["protocol"] = args.protocol
    cfg, _ = _setup(args, {"data": data})
    data_path = str(Path(args.data).resolve()) if args.data else None
    results = run_benchmark(cfg, data_path=data_path, subjects=parse_subjects(args.subjects),
                            methods=args.methods, backbones=args.backbones, seeds=args.seeds,
                            out=args.out, jobs=args.jobs, progress=not args.quiet,
                            engine=args.engine, address=args.address, quality=args.quality)
    log.info("benchmark: %d cells in %s", len(results), args.out)


def cmd_sweep(args: argparse.Namespace) -> None:
    from sasgda.data import parse_subjects
    from sasgda.sweeps import run_sweeps

    results = run_sweeps(args.out, parse_subjects(args.subjects), seeds=args.seeds,
                         jobs=args.jobs, progress=not args.quiet, engine=args.engine,
                         address=args.address, backbone=args.backbone,
                         ratios=args.ratios, ratio_methods=args.ratio_methods,
                         confidences=args.confidences)
    log.info("sweeps: %d subject runs in %s; `sasgda report --out %s` tables and plots them",
             len(results), args.out / "sweeps", args.out)


def cmd_report(args: argparse.Namespace) -> None:
    from sasgda.report import report_benchmark, report_run

    path = report_run(args.run_dir) if args.run_dir else \
        report_benchmark(args.out, plot_subjects=args.plot_subjects)
    log.info("wrote %s", path)


def cmd_demo(args: argparse.Namespace) -> None:
    from importlib.resources import files

    from sasgda.config import load_yaml
    from sasgda.utils.rundir import RunDir

    demo_defaults = load_yaml(files("sasgda") / "configs" / "demo.yaml")
    cfg, device = _setup(args, defaults=demo_defaults)
    run = RunDir(args.run_dir)
    log.info("sasgda demo on SIMULATED data (not real recordings), run directory %s", run.root)
    _run_all(args, cfg, device, run, None, "1")
    log.info("demo finished: report in %s", run.root / "report.md")


COMMANDS = {
    "datasets": cmd_datasets,
    "prepare": cmd_prepare,
    "train-classifier": cmd_train_classifier,
    "train-downstream": cmd_train_downstream,
    "train-generator": cmd_train_generator,
    "generate": cmd_generate,
    "evaluate": cmd_evaluate,
    "run": cmd_run,
    "benchmark": cmd_benchmark,
    "sweep": cmd_sweep,
    "report": cmd_report,
    "demo": cmd_demo,
}


def _one_line_warnings(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def _os_error_message(err: OSError) -> str:
    """One line for an error of the operating system: the path and what to do about it (the
    temporary file of an atomic write named by its folder)."""
    if err.filename is None:
        return str(err)  # one of ours, already a sentence naming the file
    path = Path(err.filename)
    writing = path.name.startswith(".") and path.name.endswith(".tmp") or not path.exists()
    if writing:  # a temporary file or a folder being made: the folder it goes in is the problem
        path = path.parent
    if err.errno == errno.ENOSPC:
        return f"{path}: no space left on device"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: not writable" if writing else f"{path}: permission denied"
    if err.errno == errno.ENOTDIR:
        return f"{path}: a file where a folder is needed"
    return f"{path}: {err.strerror or err}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s",
                        stream=sys.stdout, force=True)
    warnings.formatwarning = _one_line_warnings
    try:
        COMMANDS[args.command](args)
    except (ValueError, OSError) as err:
        message = _os_error_message(err) if isinstance(err, OSError) else str(err)
        print(f"sasgda {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sasgda {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
