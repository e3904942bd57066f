"""Generator training: it learns, drops the condition at the configured rate, resumes exactly."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sasgda.config import GeneratorConfig
from sasgda.diffusion import (
    build_generator,
    diffusion_loss,
    load_generator,
    make_noise_scheduler,
    predict_x0,
    train_generator,
)
from sasgda.diffusion.train import ema_decay_at
from sasgda.models.unet1d import ConditionalUNet1D

TINY = dict(
    n_chans=2, base_channels=16, channel_mults=(1, 2), cond_dim=8, n_cond_tokens=2, n_heads=2
)


def data(n=8, n_times=16):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2, n_times)).astype(np.float32)
    features = rng.standard_normal((n, 8)).astype(np.float32)
    return x, features


def tiny_model(cls=ConditionalUNet1D, **overrides):
    torch.manual_seed(0)
    return cls(**{**TINY, **overrides})


def test_overfits_eight_windows(tmp_path):
    x, features = data()
    cfg = GeneratorConfig(
        steps=200, batch_size=32, lr=3e-3, cond_dropout=0.0, ema_decay=0.9, checkpoint_every=1000
    )
    model = tiny_model()
    # A fixed evaluation set: every window at 16 random timesteps with fixed noise.
    scheduler = make_noise_scheduler(cfg)
    gen = torch.Generator().manual_seed(1)
    x_eval = torch.from_numpy(x).repeat(16, 1, 1)
    f_eval = torch.from_numpy(features).repeat(16, 1)
    t_eval = torch.randint(0, 1000, (128,), generator=gen)
    x_t = scheduler.add_noise(x_eval, torch.randn(x_eval.shape, generator=gen), t_eval)

    def eval_loss(m):
        with torch.no_grad():
            x0_hat = predict_x0(m, x_t, t_eval, f_eval, alphas_cumprod=scheduler.alphas_cumprod,
                                parameterization=cfg.parameterization)
            return diffusion_loss(x0_hat, x_eval, cfg.lambda_fourier).item()

    before = eval_loss(model)
    model, ema = train_generator(
        model, x, features, cfg, device="cpu", seed=0, checkpoint_dir=tmp_path, progress=False
    )
    assert eval_loss(model) < before / 10
    assert eval_loss(ema) < before / 10


class RecordingUNet(ConditionalUNet1D):
    """Records the drop masks the training loop passes in."""

    def forward(self, x, t, cond, drop_mask=None):
        self.masks.append(drop_mask.clone())
        return super().forward(x, t, cond, drop_mask)


def test_ema_warmup_forgets_the_initial_weights(tmp_path):
    # After 60 steps, with warm-up the EMA is close to the trained weights; with a constant
    # 0.995 from the first step the initial random weights still hold 0.995^59 = 74 % of it.
    x, features = data()
    gaps = {}
    for warmup in (True, False):
        cfg = GeneratorConfig(steps=60, batch_size=8, lr=3e-3, ema_decay=0.995,
                              ema_warmup=warmup, checkpoint_every=1000)
        model, ema = train_generator(tiny_model(), x, features, cfg, device="cpu", seed=0,
                                     checkpoint_dir=tmp_path / str(warmup), progress=False)
        init = tiny_model().requires_grad_(False)
        gaps[warmup] = [
            ((e - m).norm() / (i - m).norm()).item()
            for e, m, i in zip(
                ema.parameters(), model.parameters(), init.parameters(), strict=True
            )
            if (i - m).norm() > 0
        ]
    assert np.median(gaps[True]) < 0.5 * np.median(gaps[False])
    assert np.median(gaps[False]) > 0.5


def test_ema_decay_schedule():
    n = torch.tensor([0, 1, 10, 3000, 100_000])
    warm = ema_decay_at(n, 0.999, warmup=True)
    assert torch.allclose(warm[:4], torch.tensor([0.1, 2 / 11, 11 / 20, 3001 / 3010]))
    assert warm[4].item() == pytest.approx(0.999)
    assert torch.all(ema_decay_at(n, 0.999, warmup=False) == 0.999)


def test_condition_dropout_rate(tmp_path):
    x, features = data()
    cfg = GeneratorConfig(steps=30, batch_size=128, cond_dropout=0.25, checkpoint_every=1000)
    model = tiny_model(RecordingUNet, base_channels=4, channel_mults=(1,))
    model.masks = []
    train_generator(
        model, x, features, cfg, device="cpu", seed=0, checkpoint_dir=tmp_path, progress=False
    )
    masks = torch.cat(model.masks)
    assert masks.dtype == torch.bool and len(masks) == 30 * 128
    # 3840 draws: the standard error of the rate is 0.007.
    assert abs(masks.float().mean().item() - 0.25) < 0.03


def test_label_mode_trains_and_reloads(tmp_path):
    x, _ = data()
    labels = np.arange(8, dtype=np.int64) % 3
    cfg = GeneratorConfig(condition="label", steps=5, batch_size=4, checkpoint_every=1000)
    model, ema = train_generator(
        tiny_model(n_classes=3),
        x,
        labels,
        cfg,
        device="cpu",
        seed=0,
        checkpoint_dir=tmp_path,
        progress=False,
    )
    loaded = load_generator(tmp_path, "cpu")
    assert loaded.n_classes == 3 and not loaded.training
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    with pytest.raises(ValueError, match="labels"):
        train_generator(
            tiny_model(n_classes=3),
            x,
            labels + 1,
            cfg,
            device="cpu",
            seed=0,
            checkpoint_dir=tmp_path / "other",
            progress=False,
        )


def test_checkpoint_files_and_metrics(tmp_path):
    x, features = data()
    cfg = GeneratorConfig(steps=60, batch_size=4, checkpoint_every=25)
    metrics = tmp_path / "metrics.jsonl"
    train_generator(
        tiny_model(base_channels=4, channel_mults=(1,)),
        x,
        features,
        cfg,
        device="cpu",
        seed=0,
        checkpoint_dir=tmp_path / "gen",
        progress=False,
        metrics_path=metrics,
    )
    names = {p.name for p in (tmp_path / "gen").iterdir()}
    assert names == {
        "config.json",
        "model.safetensors",
        "ema.safetensors",
        "scheduler_config.json",
        "state.pt",
        "state.pt.prev",  # the checkpoint before, to resume from if state.pt is damaged
    }
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [line["step"] for line in lines] == [50, 60]
    assert all(line["loss"] > 0 and line["seconds"] >= 0 for line in lines)


class DropoutUNet(ConditionalUNet1D):
    """Draws from torch's global generator (input dropout), as a model with dropout would."""

    def forward(self, x, t, cond, drop_mask=None):
        return super().forward(F.dropout(x, 0.2, self.training), t, cond, drop_mask)


def run(tmp_path, steps, checkpoint_every=10):
    x, features = data()
    cfg = GeneratorConfig(
        steps=steps,
        batch_size=4,
        lr=1e-3,
        cond_dropout=0.3,
        checkpoint_every=checkpoint_every,
        ema_decay=0.9,
    )
    model = tiny_model(DropoutUNet, base_channels=4, channel_mults=(1, 2))
    return train_generator(
        model,
        x,
        features,
        cfg,
        device="cpu",
        seed=3,
        checkpoint_dir=tmp_path,
        progress=False,
        metrics_path=tmp_path / "metrics.jsonl",
    )


def test_resume_matches_an_uninterrupted_run(tmp_path):
    straight_model, straight_ema = run(tmp_path / "straight", steps=40)
    run(tmp_path / "resumed", steps=20)
    state = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert state["step"] == 20
    # Torch's global generator moves on in between; the resumed run restores it for dropout.
    torch.randn(100)
    resumed_model, resumed_ema = run(tmp_path / "resumed", steps=40)
    assert torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)["step"] == 40
    for a, b in [(straight_model, resumed_model), (straight_ema, resumed_ema)]:
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), key
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [20, 40]


def test_a_run_killed_between_metrics_lines_logs_what_an_uninterrupted_one_does(
    tmp_path, monkeypatch
):
    # A checkpoint at step 30 falls between the lines at steps 50 and 60 (LOG_EVERY = 50): the
    # resumed run's line at 50 must still average steps 1-50, not 31-50.
    run(tmp_path / "straight", steps=60, checkpoint_every=30)
    calls = 0

    def dies_at_step_41(*args):
        nonlocal calls
        calls += 1
        if calls == 41:
            raise KeyboardInterrupt
        return diffusion_loss(*args)

    monkeypatch.setattr("sasgda.diffusion.train.diffusion_loss", dies_at_step_41)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", steps=60, checkpoint_every=30)
    monkeypatch.undo()
    run(tmp_path / "resumed", steps=60, checkpoint_every=30)

    def lines(folder):
        return [(line["step"], line["loss"]) for line in map(
            json.loads, (folder / "metrics.jsonl").read_text().splitlines())]

    assert lines(tmp_path / "resumed") == lines(tmp_path / "straight")
    assert [step for step, _ in lines(tmp_path / "straight")] == [50, 60]


def test_finished_run_returns_immediately_and_overshoot_raises(tmp_path):
    model, _ = run(tmp_path, steps=10)
    again, _ = run(tmp_path, steps=10)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    with pytest.raises(ValueError, match="past steps"):
        run(tmp_path, steps=5)


def test_other_model_in_checkpoint_dir_raises(tmp_path):
    run(tmp_path, steps=5)
    x, features = data()
    cfg = GeneratorConfig(steps=10, batch_size=4)
    with pytest.raises(ValueError, match="different model"):
        train_generator(
            tiny_model(base_channels=8),
            x,
            features,
            cfg,
            device="cpu",
            seed=0,
            checkpoint_dir=tmp_path,
            progress=False,
        )


def test_bad_inputs_raise(tmp_path):
    x, features = data()
    cfg = GeneratorConfig(steps=1, batch_size=4)
    with pytest.raises(ValueError, match="rows"):
        train_generator(
            tiny_model(),
            x,
            features[:5],
            cfg,
            device="cpu",
            seed=0,
            checkpoint_dir=tmp_path,
            progress=False,
        )
    with pytest.raises(ValueError, match="cond_dropout"):
        train_generator(
            tiny_model(),
            x,
            features,
            GeneratorConfig(cond_dropout=1.0),
            device="cpu",
            seed=0,
            checkpoint_dir=tmp_path,
            progress=False,
        )


def test_build_generator_from_config():
    semantic = build_generator(
        GeneratorConfig(base_channels=8, n_heads=2), n_chans=3, cond_dim=16, n_classes=5
    )
    assert semantic.n_classes is None and semantic.cond_dim == 16
    assert semantic.config["channel_mults"] == GeneratorConfig().channel_mults
    assert semantic.config["pad_mode"] == GeneratorConfig().pad_mode
    label = build_generator(
        GeneratorConfig(condition="label", base_channels=8, n_heads=2),
        n_chans=3,
        cond_dim=16,
        n_classes=5,
    )
    assert label.n_classes == 5
    with pytest.raises(ValueError, match="condition"):
        build_generator(GeneratorConfig(condition="text"), n_chans=3, cond_dim=16, n_classes=5)
