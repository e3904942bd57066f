"""The CUDA code paths on a GPU: skipped on a machine without one. `bench/gpu_check.sh` runs them
with a short throughput bench."""

import numpy as np
import pytest
import torch

from sasgda.cli import main
from sasgda.config import GeneratorConfig
from sasgda.diffusion import sample, train_generator
from sasgda.utils.device import autocast_dtype
from sasgda.utils.io import load_json
from tests.integration.tiny import TINY_RUN
from tests.unit.test_precision import tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")

def test_auto_precision_is_bf16_where_the_gpu_has_it():
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert autocast_dtype("auto", torch.device("cuda")) is expected


@pytest.mark.parametrize("precision", ["fp32", "auto", "fp16"])
def test_generator_trains_on_the_gpu(tmp_path, precision):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 2, 16)).astype(np.float32)
    cond = rng.standard_normal((16, 4)).astype(np.float32)
    cfg = GeneratorConfig(steps=20, batch_size=8, checkpoint_every=10)
    model, ema = train_generator(tiny_model(), x, cond, cfg, device="cuda", seed=0,
                                 checkpoint_dir=tmp_path, progress=False, precision=precision)
    assert next(ema.parameters()).is_cuda
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_cpu_seed_gives_the_same_windows_on_the_gpu():
    cond = np.random.default_rng(1).standard_normal((64, 4)).astype(np.float32)

    def windows(device, precision="fp32"):
        model = tiny_model().to(device).eval()
        return sample(model, cond, n_times=16, steps=5, batch_size=32, device=device,
                      generator=torch.Generator().manual_seed(0), progress=False,
                      precision=precision)

    on_cpu = windows("cpu")
    np.testing.assert_allclose(windows("cuda"), on_cpu, atol=1e-3)
    rms = lambda a: np.sqrt(np.mean(a**2))  # noqa: E731
    assert rms(windows("cuda", "auto") - on_cpu) < 0.15 * rms(on_cpu)


def test_a_whole_run_on_the_gpu(tmp_path):
    run = tmp_path / "run"
    assert main(["run", "--dataset", "simulated", "--subject", "1", "--run-dir", str(run),
                 "--device", "cuda", "--methods", "none", "gmss", *TINY_RUN]) == 0
    assert load_json(run / "downstream" / "cnn-gmss" / "metrics.json")["accuracy"] > 0
