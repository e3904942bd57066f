"""The full augmentation benchmark on a real dataset, and its report under bench/results/.

MyoUP (intra-subject, 8 subjects) shares its output folder and config with
`bench/sasgda_myoup.py`: the classifier, generators and synthetic sets are made once per subject
and seed, and cells either script finished are not computed again. myo-readings (cross-session,
5 participants) gets its own folder with the same settings.

    python bench/benchmark.py --dataset myoup [--methods ...] [--backbones ...] [--seeds 0]
        [--jobs 2] [--report-only]

`sasgda report` then writes report.md, results.csv and plots/ in the output folder, and they
are copied to bench/results/benchmark-<dataset>/. On a 2-core CPU the whole grid takes days (each
generative subject needs two generators and four synthetic sets, every cell a full training);
run parts of it with --methods / --backbones / --subjects, or on a GPU with --set device=cuda.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sasgda_myoup import OUT, OVERRIDES, sync_cells  # bench/ is on sys.path for bench scripts

from sasgda.augment import downstream_methods
from sasgda.benchmark import run_benchmark
from sasgda.config import build_config, dump_yaml
from sasgda.data import parse_subjects
from sasgda.models import BACKBONES
from sasgda.report import report_benchmark

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = {
    "myoup": dict(data=SHARED / "myoup-ninapro", subjects="1-8", out=OUT,
                  overrides=OVERRIDES),
    "myo-readings": dict(data=SHARED / "myo-readings", subjects="12345,21547,45612,54321,78945",
                         out=ROOT / "runs" / "bench-myo-readings",
                         overrides=[*OVERRIDES, "data.dataset=myo-readings",
                                    "data.protocol=cross-session"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=list(DATASETS), required=True)
    parser.add_argument("--subjects", help="default: every subject of the dataset")
    parser.add_argument("--methods", nargs="+", default=list(downstream_methods()))
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--report-only", action="store_true",
                        help="report the cells finished so far without computing more")
    args = parser.parse_args()

    spec = DATASETS[args.dataset]
    cfg = build_config(overrides=[*spec["overrides"], *args.overrides])
    # MyoUP cells with the bench's own config are kept in bench/results/sasgda-cells/ (see
    # bench/sasgda_myoup.py): reuse them, and add the new ones there.
    config_yaml = dump_yaml(cfg)
    shared_cells = (args.dataset == "myoup" and not args.overrides
                    and sync_cells(spec["out"], config_yaml, into_out=True))
    if not args.report_only:
        run_benchmark(cfg, data_path=str(spec["data"]),
                      subjects=parse_subjects(args.subjects or spec["subjects"]),
                      methods=args.methods, backbones=args.backbones, seeds=args.seeds,
                      out=spec["out"], jobs=args.jobs)
    if shared_cells:
        sync_cells(spec["out"], config_yaml, into_out=False)
    # The plots of the first subject and seed only: each run's come to about 1.6 MB.
    first = parse_subjects(args.subjects or spec["subjects"])[:1]
    report = report_benchmark(spec["out"], plot_subjects=first)
    dest = ROOT / "bench" / "results" / f"benchmark-{args.dataset}"
    shutil.rmtree(dest / "plots", ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "results.csv"):
        shutil.copy2(spec["out"] / name, dest / name)
    if (spec["out"] / "plots").is_dir():
        for folder in sorted((spec["out"] / "plots").glob(f"s{first[0]}-seed*"))[:1]:
            shutil.copytree(folder, dest / "plots" / folder.name)
    print(report.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
