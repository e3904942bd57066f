"""Command-line front end: parse, seed, call a pipeline stage. Nothing else lives here.

Bad input or usage exits with code 2 and one line on stderr; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
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

    p = sub.add_parser("demo", help="the pipeline on built-in simulated data")
    p.add_argument("--run-dir", type=Path, default=Path("runs/demo"),
                   help="where the demo's files go (default runs/demo)")
    _common(p)
    return parser


def _resolve_config(args: argparse.Namespace, base: dict | None = None):
    """Defaults < ``base`` < the run's saved config.yaml < --config files < --set < flags."""
    from sasgda.config import build_config, load_yaml, merge, replace

    values = dict(base or {})
    run_dir = getattr(args, "run_dir", None)
    saved = Path(run_dir) / "config.yaml" if run_dir is not None else None
    if saved is not None and saved.is_file() and args.command not in ("prepare", "demo"):
        values = merge(load_yaml(saved), values)
    cfg = build_config(args.config, args.overrides, values)
    if args.seed is not None:
        cfg = replace(cfg, seed=args.seed)
    if args.device is not None:
        cfg = replace(cfg, device=args.device)
    return cfg


def _setup(args: argparse.Namespace, base: dict | None = None):
    """Resolve the config, seed once, pick the device, record the run."""
    from sasgda.utils import resolve_device, seed_everything

    cfg = _resolve_config(args, base)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
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


def cmd_demo(args: argparse.Namespace) -> None:
    from sasgda import pipeline
    from sasgda.utils.rundir import RunDir

    cfg, device = _setup(args, {"data": {"dataset": "simulated"}})
    run = RunDir(args.run_dir)
    log.info("sasgda demo on SIMULATED data (not real recordings), run directory %s", run.root)
    pipeline.start_run(cfg, run, str(device))
    pipeline.prepare(cfg, run, None, "1")
    log.info("demo finished; its files are in %s", run.root)


COMMANDS = {
    "datasets": cmd_datasets,
    "prepare": cmd_prepare,
    "demo": cmd_demo,
}


def _one_line_warnings(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s",
                        stream=sys.stdout, force=True)
    warnings.formatwarning = _one_line_warnings
    try:
        COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as err:
        message = " ".join(str(err).split())
        print(f"sasgda {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sasgda {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
