"""`sasgda benchmark --engine ray` on a local Ray: the same cells as the process pool, and a run
killed mid-grid and started again computes only what is missing. Needs the `scale` extra."""

import os
import signal
import subprocess
import sys
import time

import pytest

from sasgda.cli import main
from sasgda.utils.io import load_json
from tests.integration.conftest import tiny_grid

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e \".[scale]\")")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """A local Ray of one CPU for the module, which the resumed run uses instead of starting its
    own (a start costs seconds). Skip, saying why, where the machine cannot start one at all (a
    container without room for its object store, say): that is the machine's limit, not the
    benchmark's."""
    try:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except Exception as err:  # Ray raises several types for a start that fails
        pytest.skip(f"a local Ray cannot start here: {str(err).splitlines()[0]}")
    yield
    ray.shutdown()


def grid(out):
    # One job: subject 1's cells finish while subject 2's shared stages are still to run, so
    # that a kill at the first cell lands mid-grid (two jobs finish all four cells at once).
    return ["benchmark", "--out", str(out), *tiny_grid(methods=("none", "gmss")), "--jobs", "1",
            "--engine", "ray"]


def accuracies(out):
    return {p.name: load_json(p)["accuracy"] for p in sorted((out / "cells").glob("*.json"))}


def test_a_killed_ray_run_resumes_with_the_cells_of_the_process_pool(tmp_path,
                                                                    generative_benchmark):
    # The pool's cells: the shared tiny benchmark, made with the process engine.
    pool = {name: accuracy for name, accuracy in accuracies(generative_benchmark).items()
            if "_sass_" not in name}
    # A Ray run killed mid-grid: its driver and the local Ray it started, with SIGKILL.
    out = tmp_path / "ray"
    driver = subprocess.Popen([sys.executable, "-m", "sasgda", *grid(out)],
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    cells, deadline = out / "cells", time.monotonic() + 900
    while not any(cells.glob("*.json")):
        assert driver.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(2)  # anything Ray still had running sees that its driver is gone
    before = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert 0 < len(before) < 4
    # Started again, on the module's Ray, it computes only the missing cells, and they are the
    # pool's.
    assert main(grid(out)) == 0
    after = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert {name: after[name] for name in before} == before
    assert len(after) == 4 and accuracies(out) == pool
