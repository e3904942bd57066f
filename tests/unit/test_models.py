"""The classifier zoo: shapes for both geometries, encode/head split, save/load round trip."""

import numpy as np
import pytest
import torch

from sasgda.models import BACKBONES, MODEL_CLASSES, TaskAwareCNN, build_classifier
from sasgda.models.crossformer import Crossformer
from sasgda.models.stcnet import CircularSpatialConv
from sasgda.utils.modelio import load_model, save_model

torch.set_num_threads(1)

# Myo (8 electrodes, 200 ms at 200 Hz, MyoUP's 22 gestures) and NinaPro DB2 (12 electrodes,
# 200 ms at 2 kHz, 49 gestures).
GEOMETRIES = [(8, 40, 22), (12, 400, 49)]


def _build(name, n_chans, n_times, n_classes, seed=0):
    torch.manual_seed(seed)
    return build_classifier(name, n_chans=n_chans, n_times=n_times, n_classes=n_classes).eval()


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=["8x40", "12x400"])
@pytest.mark.parametrize("name", BACKBONES)
def test_output_shapes(name, geometry):
    n_chans, n_times, n_classes = geometry
    model = _build(name, n_chans, n_times, n_classes)
    x = torch.randn(3, n_chans, n_times)
    with torch.no_grad():
        logits = model(x)
        features = model.encode(x)
    assert logits.shape == (3, n_classes)
    assert features.shape == (3, model.feat_dim)
    assert torch.isfinite(logits).all()
    # forward is head(encode(x)) for every backbone, not only the task-aware CNN.
    torch.testing.assert_close(model.head(features), logits)


@pytest.mark.parametrize("name", BACKBONES)
def test_training_step_reaches_every_parameter(name):
    model = _build(name, 8, 40, 22).train()
    x = torch.randn(4, 8, 40)
    torch.nn.functional.cross_entropy(model(x), torch.arange(4)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_task_aware_cnn_encode_head_compose():
    torch.manual_seed(0)
    model = TaskAwareCNN(n_chans=8, n_times=40, n_classes=22, feat_dim=128).eval()
    x = torch.randn(5, 8, 40)
    with torch.no_grad():
        features = model.encode(x)
        assert features.shape == (5, 128)
        torch.testing.assert_close(model.head(features), model(x))
    assert model.config["feat_dim"] == 128


@pytest.mark.parametrize("name", BACKBONES)
def test_save_load_round_trip(name, tmp_path):
    model = _build(name, 8, 40, 22)
    # Move BatchNorm statistics away from their initial values so that buffers are checked too.
    with torch.no_grad():
        model.train()(torch.randn(16, 8, 40) * 3 + 1)
    model.eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path, MODEL_CLASSES).eval()
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    x = torch.randn(4, 8, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_model_classes_are_keyed_by_class_name():
    for name in BACKBONES:
        cls = type(_build(name, 8, 40, 22))
        assert MODEL_CLASSES[cls.__name__] is cls


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(ValueError, match="crossformer, tdct, stcnet"):
        build_classifier("resnet", n_chans=8, n_times=40, n_classes=22)


@pytest.mark.parametrize("name", BACKBONES)
def test_wrong_input_shape_is_an_error(name):
    model = _build(name, 8, 40, 22)
    with pytest.raises(ValueError, match=r"\(batch, 8, 40\)"):
        model(torch.randn(2, 8, 41))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_chans=0, n_times=40, n_classes=22),
        dict(n_chans=8, n_times=4, n_classes=22),
        dict(n_chans=8, n_times=40, n_classes=1),
        dict(n_chans=8, n_times=40, n_classes=22, dropout=1.0),
    ],
)
@pytest.mark.parametrize("name", BACKBONES)
def test_invalid_arguments_are_errors(name, kwargs):
    with pytest.raises(ValueError):
        build_classifier(name, **kwargs)


def test_crossformer_pads_a_partial_segment():
    # 42 samples in segments of 8: six segments after padding two samples at the front.
    model = Crossformer(n_chans=4, n_times=42, n_classes=3, seg_len=8).eval()
    assert model.embedding.n_segments == 6
    with torch.no_grad():
        assert model(torch.randn(2, 4, 42)).shape == (2, 3)


def test_circular_spatial_conv_is_equivariant_to_rotating_the_ring():
    # With circular padding, rotating the electrodes rotates the output the same way: the first
    # and last electrodes are neighbours, as on an armband.
    torch.manual_seed(0)
    conv = CircularSpatialConv(filters=3, kernel_size=3)
    x = torch.randn(2, 3, 8, 10)
    with torch.no_grad():
        rotated = conv(torch.roll(x, shifts=2, dims=2))
        torch.testing.assert_close(rotated, torch.roll(conv(x), shifts=2, dims=2))


def test_same_seed_gives_same_initial_weights():
    a = _build("crossformer", 8, 40, 22, seed=3).state_dict()
    b = _build("crossformer", 8, 40, 22, seed=3).state_dict()
    c = _build("crossformer", 8, 40, 22, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert np.isfinite(sum(v.float().sum().item() for v in a.values()))
