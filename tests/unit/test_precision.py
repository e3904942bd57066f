"""Mixed precision and torch.compile of the generator: the code paths a GPU takes, run on the CPU
(autocast and the fp16 loss scaler work there too, only slower)."""

import numpy as np
import pytest
import torch

from sasgda.config import GeneratorConfig
from sasgda.diffusion import sample, train_generator
from sasgda.models.unet1d import ConditionalUNet1D
from sasgda.utils.device import autocast_dtype

TINY = dict(n_chans=2, base_channels=8, channel_mults=(1, 2), cond_dim=4, n_cond_tokens=2,
            n_heads=2)


def tiny_model():
    torch.manual_seed(0)
    return ConditionalUNet1D(**TINY)


def data():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((16, 2, 16)).astype(np.float32),
            rng.standard_normal((16, 4)).astype(np.float32))


def train(tmp_path, precision, steps=6, compile=False):
    x, cond = data()
    cfg = GeneratorConfig(steps=steps, batch_size=8, lr=1e-3, checkpoint_every=3)
    return train_generator(tiny_model(), x, cond, cfg, device="cpu", seed=0,
                           checkpoint_dir=tmp_path, progress=False, precision=precision,
                           compile=compile)


def test_precision_names():
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is None  # fp32 on a CPU
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("fp16", cpu) is torch.float16
    with pytest.raises(ValueError, match="precision='fp8': expected one of auto, fp32"):
        autocast_dtype("fp8", cpu)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_steps_as_fp32_does(tmp_path, precision):
    start = tiny_model().state_dict()
    fp32_model, _ = train(tmp_path / "fp32", "fp32", steps=1)
    model, _ = train(tmp_path / precision, precision, steps=1)
    agree = total = 0
    for name, value in model.state_dict().items():
        assert value.dtype == torch.float32 and torch.isfinite(value).all(), name
        # Adam's first step moves every weight by the learning rate along its gradient's sign:
        # the half-precision gradients must point the fp32 ones' way (half of them by chance).
        ref, step = fp32_model.state_dict()[name] - start[name], value - start[name]
        agree += ((ref.sign() == step.sign()) & (ref != 0)).sum().item()
        total += (ref != 0).sum().item()
    assert agree > 0.75 * total
    state = torch.load(tmp_path / precision / "state.pt", weights_only=True)
    # fp16 keeps its loss scale in the checkpoint, so that a resumed run goes on with it.
    assert ("scale" in state["scaler"]) == (precision == "fp16")


def test_fp16_training_resumes_with_its_loss_scale(tmp_path):
    straight, _ = train(tmp_path / "straight", "fp16", steps=6)
    train(tmp_path / "resumed", "fp16", steps=3)
    resumed, _ = train(tmp_path / "resumed", "fp16", steps=6)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def windows(model, **kw):
    cond = np.random.default_rng(1).standard_normal((10, 4)).astype(np.float32)
    kw = {"batch_size": 4, **kw}
    return sample(model, cond, n_times=16, steps=4, progress=False,
                  generator=torch.Generator().manual_seed(0), **kw)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_sampling_stays_near_fp32(precision):
    model = tiny_model().eval()
    full = windows(model, precision="fp32")
    half = windows(model, precision=precision)
    assert half.dtype == np.float32 and np.isfinite(half).all()
    rms = lambda a: np.sqrt(np.mean(a**2))  # noqa: E731
    # bf16 keeps 8 bits of mantissa: a few per cent, where a broken path is 100 %.
    assert rms(half - full) < 0.15 * rms(full)


def test_compiled_generator_samples_as_the_eager_one():
    model = tiny_model().eval()
    np.testing.assert_allclose(windows(model, compile=True, batch_size=5), windows(model),
                               atol=1e-4)


@pytest.mark.slow  # about two minutes of compiling on 2 CPU cores
def test_compiled_generator_trains_as_the_eager_one(tmp_path):
    eager, _ = train(tmp_path / "eager", "fp32", steps=2)
    compiled, _ = train(tmp_path / "compiled", "fp32", steps=2, compile=True)
    for key, value in eager.state_dict().items():
        # Two Adam steps of lr 1e-3: a gradient near zero may flip its sign, and the weight
        # then ends up to 2e-3 away.
        torch.testing.assert_close(compiled.state_dict()[key], value, atol=2e-3, rtol=0)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_classifiers_learn_in_mixed_precision(precision):
    from sasgda.config import TrainerConfig
    from sasgda.models import TaskAwareCNN
    from sasgda.training import fit, predict_logits

    # The class is the channel with the largest amplitude: an easy, exact task.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = rng.normal(size=(300, 4, 16)).astype(np.float32)
    x[np.arange(300), y] *= 4.0
    torch.manual_seed(0)
    model = TaskAwareCNN(n_chans=4, n_times=16, n_classes=3, feat_dim=16, width=8)
    fit(model, x[:240], y[:240], None, None, TrainerConfig(epochs=8, batch_size=32, lr=3e-3),
        device="cpu", seed=0, progress=False, precision=precision)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    accuracy = np.mean(predict_logits(model, x[240:], device="cpu").argmax(1) == y[240:])
    assert accuracy > 0.9
