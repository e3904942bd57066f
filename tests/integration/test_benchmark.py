"""`sasgda benchmark` and `sasgda report` on a tiny simulated grid."""

from sasgda.cli import main
from sasgda.utils.io import load_json
from tests.integration.conftest import GENERATIVE_GRID

TINY = ["--set", "data.sim_gestures=3", "--set", "data.sim_rep_seconds=1.5",
        "--set", "downstream.train.epochs=1", "--set", "downstream.augmented_epochs=1", "--quiet"]


def test_rerun_computes_only_missing_cells(tmp_path):
    out = tmp_path / "bench"
    args = ["benchmark", "--dataset", "simulated", "--subjects", "1-2", "--out", str(out),
            "--methods", "none", "jitter", "--backbones", "cnn", "--seeds", "0", *TINY]
    assert main(args) == 0
    cells = sorted((out / "cells").glob("*.json"))
    assert [c.name for c in cells] == [
        "s1_jitter_cnn_seed0.json", "s1_none_cnn_seed0.json",
        "s2_jitter_cnn_seed0.json", "s2_none_cnn_seed0.json"]
    before = {c.name: c.stat().st_mtime_ns for c in cells}
    # An interrupted benchmark: one cell never finished.
    (out / "cells" / "s2_jitter_cnn_seed0.json").unlink()
    assert main(args) == 0
    after = {c.name: c.stat().st_mtime_ns for c in (out / "cells").glob("*.json")}
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"s2_jitter_cnn_seed0.json"}
    cell = load_json(out / "cells" / "s2_jitter_cnn_seed0.json")
    assert cell["method"] == "jitter" and 0 <= cell["accuracy"] <= 1

    assert main(["report", "--out", str(out), "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "| cnn | jitter |" in report and "Wilcoxon" in report
    assert len((out / "results.csv").read_text().splitlines()) == 5


def test_each_subject_finishes_before_the_next_starts(tmp_path):
    """Cells run right after their subject's shared stages, not after every subject's."""
    out = tmp_path / "bench"
    for jobs in ("1", "2"):
        assert main(["benchmark", "--dataset", "simulated", "--subjects", "1-3", "--out",
                     str(out / jobs), "--methods", "none", "--backbones", "cnn", "--seeds", "0",
                     "--jobs", jobs, *TINY]) == 0
    cells = out / "1" / "cells"
    prepared = out / "1" / "runs"
    assert (cells / "s1_none_cnn_seed0.json").stat().st_mtime_ns < (
        prepared / "s2-seed0" / "data" / "windows.npz").stat().st_mtime_ns
    assert (cells / "s2_none_cnn_seed0.json").stat().st_mtime_ns < (
        prepared / "s3-seed0" / "data" / "windows.npz").stat().st_mtime_ns
    # Two processes give the same cells as one (each cell is seeded on its own).
    for subject in "123":
        name = f"s{subject}_none_cnn_seed0.json"
        assert load_json(out / "1" / "cells" / name)["accuracy"] == load_json(
            out / "2" / "cells" / name)["accuracy"]


def test_a_changed_config_needs_a_new_out(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "--dataset", "simulated", "--subjects", "1", "--out", str(out),
            "--methods", "none", "--backbones", "cnn", *TINY]
    assert main(args) == 0
    assert main([*args, "--set", "downstream.train.lr=0.01"]) == 2
    assert "made with downstream.train.lr=0.001 (now 0.01)" in capsys.readouterr().err
    # Where the cells run, and settings each cell sets itself, change no number.
    before = (out / "cells" / "s1_none_cnn_seed0.json").stat().st_mtime_ns
    assert main([*args, "--device", "cpu", "--set", "downstream.backbone=tdct"]) == 0
    assert (out / "cells" / "s1_none_cnn_seed0.json").stat().st_mtime_ns == before
    # A later call adds to the folder's grid.
    assert main([*args[:4], "2", *args[5:]]) == 0
    assert load_json(out / "benchmark.json")["subjects"] == ["1", "2"]


def test_unknown_method_is_a_one_line_error(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "simulated", "--subjects", "1", "--out",
                 str(tmp_path / "b"), "--methods", "nonsense", *TINY]) == 2
    assert "unknown method 'nonsense'" in capsys.readouterr().err


def test_report_plots_every_subject_and_the_quality_the_benchmark_computed(
        generative_benchmark):
    out = generative_benchmark
    grid = ["benchmark", "--out", str(out), *GENERATIVE_GRID]
    assert not (out / "runs" / "s1-seed0" / "metrics.json").exists()  # only when asked
    assert main([*grid, "--quality"]) == 0  # every cell done: only the metrics are computed
    assert main(["report", "--out", str(out), "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "## Generation quality (mean over 2 evaluated runs)" in report
    assert "| strategy | fid | cas % |" in report
    for run in ("s1-seed0", "s2-seed0"):
        assert f"## Plots: subject {run[1]}, {run}" in report
        for name in ("waveforms-gmss.png", "embedding.png"):
            assert f"(plots/{run}/{name})" in report
            assert (out / "plots" / run / name).stat().st_size > 1000
    assert main(["report", "--out", str(out), "--plot-subjects", "2", "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "## Plots: subject 2" in report and "## Plots: subject 1" not in report


def test_other_data_needs_a_new_out(tmp_path, capsys):
    # The simulated dataset ignores --data, but the finished cells must not be reused for a
    # benchmark that names other files.
    out = tmp_path / "bench"
    args = ["benchmark", "--dataset", "simulated", "--subjects", "1", "--out", str(out),
            "--methods", "none", "--backbones", "cnn", *TINY]
    assert main(args) == 0
    assert main([*args, "--data", str(tmp_path)]) == 2
    assert "holds a benchmark of other data (built-in)" in capsys.readouterr().err


def test_cells_are_reported_as_they_finish_and_subjects_run_in_the_order_given(tmp_path,
                                                                               capsys):
    out = tmp_path / "bench"
    args = ["benchmark", "--dataset", "simulated", "--subjects", "3,1", "--out", str(out),
            "--methods", "none", "--backbones", "cnn", "--seeds", "0",
            *[a for a in TINY if a != "--quiet"]]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if ": accuracy " in line]
    assert [line.split(":")[0] for line in lines] == ["s3 none cnn seed 0", "s1 none cnn seed 0"]
    assert lines[0].endswith(" s)") and " % (" in lines[0]


def test_report_names_unfinished_cells_and_gives_p_values_only_from_six_subjects(tmp_path):
    out = tmp_path / "bench"
    assert main(["benchmark", "--dataset", "simulated", "--subjects", "1-7", "--out", str(out),
                 "--methods", "none", "jitter", "--backbones", "cnn", "--seeds", "0",
                 "--set", "data.sim_subjects=7", *TINY]) == 0
    (out / "cells" / "s7_jitter_cnn_seed0.json").unlink()  # a subject not finished yet
    assert main(["report", "--out", str(out), "--quiet"]) == 0
    report = (out / "report.md").read_text()
    assert "## Not finished" in report and "s7_jitter_cnn_seed0" in report
    row = next(line for line in report.splitlines() if line.startswith("| cnn | jitter |"))
    assert "n too small" not in row and "6 x 1" in row
    assert "## Stage times" in report and "| prepare |" in report
    # Three subjects: no p-value, and the reason instead.
    for subject in "4567":
        for method in ("none", "jitter"):
            (out / "cells" / f"s{subject}_{method}_cnn_seed0.json").unlink(missing_ok=True)
    assert main(["report", "--out", str(out), "--quiet"]) == 0
    row = next(line for line in (out / "report.md").read_text().splitlines()
               if line.startswith("| cnn | jitter |"))
    assert "n too small" in row and "3 x 1" in row


def _children(pid: int) -> set[int]:
    import subprocess

    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in found.split()}


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its new parent) is not running.
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(") ")[1][0] != "Z"


def test_killing_a_parallel_benchmark_ends_its_workers(tmp_path):
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import pytest

    if not shutil.which("pgrep") or not os.path.isdir("/proc"):
        pytest.skip("needs pgrep and /proc to find the workers")
    command = [sys.executable, "-m", "sasgda", "benchmark", "--dataset", "simulated",
               "--subjects", "1-4", "--out", str(tmp_path / "bench"), "--methods", "none",
               "jitter", "--backbones", "cnn", "--seeds", "0", "--jobs", "2",
               "--set", "downstream.train.epochs=50", "--quiet"]
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    workers: set[int] = set()
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = _children(parent.pid)
    assert len(workers) >= 2, "the benchmark never started its workers"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10  # each worker checks for its parent twice a second
    while time.time() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
