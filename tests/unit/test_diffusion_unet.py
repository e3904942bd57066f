"""ConditionalUNet1D: shapes for any window length, null condition, label mode, save/load, and
the cross-attention against textbook multi-head attention."""

import pytest
import torch
import torch.nn.functional as F

from sasgda.models.unet1d import ConditionalUNet1D, CrossAttention1D
from sasgda.utils.modelio import load_model, save_model

TINY = dict(base_channels=8, channel_mults=(1, 2, 4), cond_dim=12, n_cond_tokens=3, n_heads=2)


def tiny_model(n_chans=3, **overrides):
    torch.manual_seed(0)
    return ConditionalUNet1D(n_chans=n_chans, **{**TINY, **overrides})


@pytest.mark.parametrize("n_times", [40, 400, 37, 5])
def test_output_shape_any_length(n_times):
    model = tiny_model()
    x = torch.randn(2, 3, n_times)
    out = model(x, torch.tensor([0, 999]), torch.randn(2, 12))
    assert out.shape == (2, 3, n_times)
    assert torch.isfinite(out).all()


def test_reflect_padding_pads_with_the_window_itself():
    """A window padded inside the network: zeros and reflect differ only through the padding,
    and a window that needs none is the same under both."""
    zeros = tiny_model()
    reflect = tiny_model(pad_mode="reflect")
    reflect.load_state_dict(zeros.state_dict())
    t, cond = torch.tensor([10, 500]), torch.randn(2, 12)
    x = torch.randn(2, 3, 40)  # a multiple of 4: no padding
    torch.testing.assert_close(zeros(x, t, cond), reflect(x, t, cond))
    x = torch.randn(2, 3, 37)
    assert not torch.allclose(zeros(x, t, cond), reflect(x, t, cond))
    with pytest.raises(ValueError, match="pad_mode='wrap'"):
        tiny_model(pad_mode="wrap")


@pytest.mark.parametrize("n_times", [400, 37, 5])
def test_a_patched_model_keeps_the_window_and_its_samples_in_order(n_times):
    """``patch`` folds consecutive samples into channels and unfolds them after the last level:
    the output has the window's shape, and the fold is a lossless reordering of the samples."""
    model = tiny_model(patch=4, pad_mode="reflect")
    assert model.conv_in.in_channels == 3 * 4 and model.conv_out.out_channels == 3 * 4
    out = model(torch.randn(2, 3, n_times), torch.tensor([0, 999]), torch.randn(2, 12))
    assert out.shape == (2, 3, n_times) and torch.isfinite(out).all()
    x = torch.arange(2 * 3 * 8.0).view(2, 3, 8)
    folded = model._fold(x)
    assert folded.shape == (2, 12, 2)
    assert folded[0, :4, 0].tolist() == x[0, 0, :4].tolist()  # channel 0, samples 0-3
    assert folded[0, 4:8, 1].tolist() == x[0, 1, 4:].tolist()  # channel 1, samples 4-7
    torch.testing.assert_close(model._unfold(folded), x)
    with pytest.raises(ValueError, match="patch=0"):
        tiny_model(patch=0)


def test_scalar_timestep_matches_vector():
    model = tiny_model()
    x, cond = torch.randn(4, 3, 40), torch.randn(4, 12)
    a = model(x, torch.tensor(17), cond)
    b = model(x, torch.full((4,), 17), cond)
    torch.testing.assert_close(a, b)


def textbook_cross_attention(attn: CrossAttention1D, h, tokens):
    """Queries, keys and values projected first, then softmax attention, then the output
    projection: what CrossAttention1D computes with its projections moved onto the tokens."""
    batch, channels, n_times = h.shape
    head_dim = channels // attn.n_heads
    q = attn.to_q(attn.norm(h)).view(batch, attn.n_heads, head_dim, n_times).transpose(2, 3)
    k, v = attn.to_kv(tokens).chunk(2, dim=-1)
    k = k.view(batch, -1, attn.n_heads, head_dim).transpose(1, 2)
    v = v.view(batch, -1, attn.n_heads, head_dim).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v).transpose(2, 3).reshape(batch, channels, n_times)
    return h + attn.to_out(out)


@pytest.mark.parametrize("n_heads", [1, 4])
def test_cross_attention_is_textbook_attention(n_heads):
    torch.manual_seed(0)
    attn = CrossAttention1D(channels=16, cond_dim=12, n_heads=n_heads)
    for p in attn.parameters():  # out of their initial state (to_out is not zero here anyway)
        torch.nn.init.normal_(p, std=0.3)
    h, tokens = torch.randn(3, 16, 11), torch.randn(3, 5, 12)
    h_ref = h.clone().requires_grad_()
    h = h.requires_grad_()
    out, ref = attn(h, tokens), textbook_cross_attention(attn, h_ref, tokens)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # Same gradients too: the folded form trains the same parameters the same way.
    grads = torch.autograd.grad(out.square().sum(), [h, *attn.parameters()])
    ref_grads = torch.autograd.grad(ref.square().sum(), [h_ref, *attn.parameters()])
    for g, g_ref in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, g_ref, atol=1e-4, rtol=1e-4)


def test_condition_changes_output():
    model = tiny_model()
    x, t = torch.randn(2, 3, 40), torch.tensor([5, 500])
    assert not torch.allclose(model(x, t, torch.randn(2, 12)), model(x, t, torch.randn(2, 12)))


def test_dropped_sample_gets_the_null_condition():
    model = tiny_model()
    x, t = torch.randn(4, 3, 40), torch.tensor([1, 100, 500, 999])
    cond_a, cond_b = torch.randn(4, 12), torch.randn(4, 12)
    drop = torch.tensor([True, False, True, False])
    out_a = model(x, t, cond_a, drop_mask=drop)
    out_b = model(x, t, cond_b, drop_mask=drop)
    # Dropped rows ignore their condition; kept rows do not.
    torch.testing.assert_close(out_a[drop], out_b[drop])
    assert not torch.allclose(out_a[~drop], out_b[~drop])
    # A dropped row is exactly the row computed with the null condition alone.
    null_only = model(x[:1], t[:1], torch.zeros(1, 12), drop_mask=torch.tensor([True]))
    torch.testing.assert_close(out_a[:1], null_only)
    tokens = model.condition_tokens(cond_a, drop)
    torch.testing.assert_close(tokens[0], model.null_tokens.detach())
    assert not torch.allclose(tokens[1], model.null_tokens.detach())


def test_label_mode():
    model = tiny_model(n_classes=5)
    x, t = torch.randn(3, 3, 37), torch.tensor([3, 30, 300])
    out = model(x, t, torch.tensor([0, 4, 2]))
    assert out.shape == (3, 3, 37)
    assert not torch.allclose(out, model(x, t, torch.tensor([1, 1, 1])))
    with pytest.raises(ValueError, match="int labels"):
        model(x, t, torch.randn(3, 12))


def test_bad_inputs_raise():
    model = tiny_model()
    with pytest.raises(ValueError, match="expected \\(batch, 3, n_times\\)"):
        model(torch.randn(2, 4, 40), torch.tensor(1), torch.randn(2, 12))
    with pytest.raises(ValueError, match="features"):
        model(torch.randn(2, 3, 40), torch.tensor(1), torch.randn(2, 11))
    with pytest.raises(ValueError, match="drop_mask"):
        model(torch.randn(2, 3, 40), torch.tensor(1), torch.randn(2, 12), torch.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="n_heads"):
        ConditionalUNet1D(n_chans=3, base_channels=6, n_heads=4)


def test_save_load_round_trip(tmp_path):
    model = tiny_model(n_classes=4, patch=2)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path, {"ConditionalUNet1D": ConditionalUNet1D})
    assert loaded.config == model.config
    x, t, y = torch.randn(2, 3, 40), torch.tensor([7, 70]), torch.tensor([0, 3])
    torch.testing.assert_close(loaded(x, t, y), model(x, t, y))
