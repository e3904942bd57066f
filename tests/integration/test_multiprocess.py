"""`train-generator` and `generate` launched as two processes (torchrun, gloo on the CPU; on a
GPU machine `accelerate launch --multi_gpu` does the same with one GPU each): the same generator
and windows as one process makes. Needs accelerate (the `scale` extra)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from sasgda.cli import main
from sasgda.stages import record
from sasgda.utils.io import load_npz
from sasgda.utils.rundir import RunDir
from tests.integration.tiny import TINY_RUN as TINY

pytest.importorskip("accelerate",
                    reason="accelerate is not installed (pip install -e \".[scale]\")")


def two_processes(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --standalone: a rendezvous on a free local port, whatever else runs on the machine.
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", "-m", "sasgda", *args, "--quiet"], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two copies of a prepared run with its classifier: one for each way of running."""
    root = tmp_path_factory.mktemp("multi")
    one = root / "one"
    assert main(["prepare", "--dataset", "simulated", "--subject", "1", "--run-dir", str(one),
                 *TINY]) == 0
    assert main(["train-classifier", "--run-dir", str(one), "--quiet"]) == 0
    shutil.copytree(one, root / "two")
    return one, root / "two"


def test_two_processes_train_and_sample_what_one_does(runs):
    one, two = runs
    for command in (["train-generator"], ["generate", "--strategy", "gmss"]):
        assert main([*command, "--run-dir", str(one), "--quiet"]) == 0
        done = two_processes(*command, "--run-dir", str(two))
        # The ranks' own errors come first; torchrun's summary of who failed comes last.
        assert done.returncode == 0, done.stderr[:3000] + "\n...\n" + done.stderr[-1500:]
    # The global batch is shared out and the gradients averaged: the steps of one process, up to
    # the order of the sums, which can flip the sign of Adam's step (lr 2e-4) for a weight whose
    # gradient is near zero.
    ema_one = load_file(one / "generator" / "ema.safetensors")
    ema_two = load_file(two / "generator" / "ema.safetensors")
    diff = np.concatenate([np.abs(ema_two[k] - v).ravel() for k, v in ema_one.items()])
    assert diff.max() < 1e-3 and np.median(diff) < 1e-6
    one_set, two_set = load_npz(one / "synthetic" / "gmss.npz"), load_npz(two / "synthetic" /
                                                                             "gmss.npz")
    np.testing.assert_array_equal(two_set["y"], one_set["y"])
    np.testing.assert_allclose(two_set["x"], one_set["x"], atol=1e-4)
    # The main process recorded both stages as done.
    assert record(RunDir(two), "generate-gmss")["done"]


def test_other_commands_refuse_several_processes(runs, monkeypatch, capsys):
    # As a launcher would start it (WORLD_SIZE is how sasgda knows it is one of several).
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train-downstream", "--run-dir", str(runs[0]), "--quiet"]) == 2
    assert "WORLD_SIZE=2: only train-generator and generate run on several processes" in \
        capsys.readouterr().err
