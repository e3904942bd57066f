"""A tiny benchmark with generated windows, made once and copied for each test that needs one
(the sweep, report and Ray tests), so that each test starts from the same finished grid whatever
ran before it."""

from __future__ import annotations

import shutil

import pytest

from sasgda.cli import main
from tests.integration.test_generation_cli import TINY


def tiny_grid(methods=("none", "gmss", "sass")) -> list[str]:
    """`sasgda benchmark` arguments of a tiny grid: two simulated subjects (the report's means
    and plots per subject), the CNN, seed 0."""
    return ["--dataset", "simulated", "--subjects", "1-2", "--methods", *methods,
            "--backbones", "cnn", "--seeds", "0", *TINY, "--set", "downstream.synthetic_ratio=0.2"]


# With the two strategies that the sweeps use.
GENERATIVE_GRID = tiny_grid()


@pytest.fixture(scope="session")
def _generative_benchmark(tmp_path_factory):
    out = tmp_path_factory.mktemp("generative") / "bench"
    assert main(["benchmark", "--out", str(out), *GENERATIVE_GRID]) == 0
    return out


@pytest.fixture
def generative_benchmark(_generative_benchmark, tmp_path):
    """A copy of the finished tiny benchmark (``GENERATIVE_GRID``) that the test may change."""
    return shutil.copytree(_generative_benchmark, tmp_path / "bench", symlinks=True)
