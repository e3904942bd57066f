"""SRG against label-only conditioning on MyoUP subjects 1-3, and the generator's cost.

For each subject it uses the run of `bench/sasgda_myoup.py` (seed 0, same config): the task-aware
classifier, the semantic and the label-conditioned generators, and the synthetic sets generated
from real training features (`real`, SRG) and from labels (`label`), two per real training window.
Stages that are missing are run here with that config (about 25 CPU-minutes per subject). The
subject's task-aware classifier then scores the generated windows (accuracy = fraction classified
as the class they were generated for), and a small set of real-conditioned windows is generated
again with other sampler settings to show what 25 DDIM steps cost against 50. Last, the default
model's training and generation speed at MyoUP size (8 x 40) and NinaPro size (12 x 400,
simulated), and that of two models of the issue's 1.8 M prototype's size (the quality of the
deeper one is in bench/generator_size.py) and of two plain U-Nets of that size that stand in for
the prototype: run it on an otherwise idle machine. Writes bench/results/generator.md.

    python bench/generator.py [--subjects 1 2 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from sasgda_myoup import MYOUP, OUT, bench_config  # bench/ is on sys.path for bench scripts
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sasgda import pipeline
from sasgda.benchmark import run_dir
from sasgda.config import build_config, replace
from sasgda.data import prepare_windows
from sasgda.diffusion import build_generator, load_generator, sample, train_generator
from sasgda.stages import timings as stage_timings
from sasgda.training import predict_logits
from sasgda.utils.io import atomic_write_text, load_json, load_npz, save_json
from sasgda.utils.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
# The deeper model of the prototype's size (1.8 M); bench/generator_size.py scores it.
DEEPER = ["generator.base_channels=24", "generator.channel_mults=[1,2,4,8]"]
# Ours at 1.8 M and, for each, a plain U-Net of the same layout and size (without its
# cross-attention DEEPER has 1.27 M parameters; at base_channels 28 it has 1.70 M).
PROTOTYPE_SIZE = {"wider": (["generator.base_channels=48"], ["generator.base_channels=56"]),
                  "deeper": (DEEPER, ["generator.base_channels=28",
                                      "generator.channel_mults=[1,2,4,8]"])}
SPEED_ROUNDS = 5
RATES = ("train_windows_per_s", "generate_windows_per_s_25", "generate_windows_per_s_50")
SAMPLERS = [("ddim", 10), ("ddim", 25), ("ddim", 50), ("dpm", 10), ("dpm", 25)]
PER_CLASS = 20  # real-conditioned windows per class for the sampler comparison


def _spread(values: list[float], fmt: str = ",.0f") -> str:
    """Smallest-largest of sorted values, as "610-1,120"."""
    return f"{values[0]:{fmt}}-{values[-1]:{fmt}}"


def classifier_accuracy(classifier, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict_logits(classifier, x, device="cpu").argmax(1) == y))


def rms_ratio(x: np.ndarray, x_real: np.ndarray) -> float:
    """Root-mean-square amplitude of ``x`` over that of the real windows (1 = same power)."""
    return float(np.sqrt(np.mean(np.square(x)) / np.mean(np.square(x_real))))


def subject_result(subject: str, out: Path) -> dict:
    """The subject's generator figures, cached in ``out/generator-bench/`` (a rerun reuses them)."""
    torch.set_num_threads(1)
    cached = out / "generator-bench" / f"s{subject}.json"
    if cached.is_file():
        return load_json(cached)
    cfg = bench_config()
    device = torch.device("cpu")
    run = RunDir(run_dir(out, subject, cfg.seed))
    pipeline.start_run(cfg, run, "cpu")
    pipeline.ensure_prepared(cfg, run, str(MYOUP), subject)
    for strategy in ("real", "label"):
        pipeline.ensure(cfg, run, device, f"generate-{strategy}", progress=False)
    classifier = pipeline.load_classifier(run, device)
    timings = stage_timings(run)
    w = pipeline.load_windows(run)
    train = w["split"] == "train"
    x_train, y_train = pipeline.split_arrays(w, "train")
    result = {"subject": subject, "n_train": len(x_train),
              "classifier_test_accuracy": load_json(run.classifier / "metrics.json")[
                  "test_accuracy"]}
    for strategy, condition in (("real", "semantic"), ("label", "label")):
        syn = load_npz(run.synthetic(strategy))
        # Training seconds from the generator's own log: they add up over resumed runs.
        log_lines = (run.generator_dir(condition) / "metrics.jsonl").read_text().splitlines()
        train_seconds = json.loads(log_lines[-1])["seconds"]
        result[condition] = {
            "train_seconds": train_seconds,
            "train_windows_per_s": cfg.generator.steps * cfg.generator.batch_size
            / train_seconds,
            "generated": len(syn["x"]),
            "generate_windows_per_s": len(syn["x"]) / timings[f"generate-{strategy}"],
            "classifier_accuracy_on_generated": classifier_accuracy(classifier, syn["x"], syn["y"]),
            "rms_ratio": rms_ratio(syn["x"], x_train),
        }

    # The same real conditions through other samplers, from the same starting noise.
    features = load_npz(run.features)["features"][train]
    rng = np.random.default_rng(0)
    picks = np.concatenate([rng.choice(np.flatnonzero(y_train == k), PER_CLASS)
                            for k in range(len(w["classes"]))])
    model = load_generator(run.generator_dir("semantic"), device)
    result["samplers"] = {}
    for solver, steps in SAMPLERS:
        start = time.perf_counter()
        x = sample(model, features[picks], n_times=w["x"].shape[2], solver=solver, steps=steps,
                   generator=torch.Generator().manual_seed(0), progress=False)
        result["samplers"][f"{solver} {steps}"] = {
            "accuracy": classifier_accuracy(classifier, x, y_train[picks]),
            "rms_ratio": rms_ratio(x, x_train[picks]),
            "windows_per_s": len(x) / (time.perf_counter() - start)}
    save_json(cached, result)
    return result


class _PassThrough(nn.Module):
    """Takes a cross-attention's place and returns the features unchanged."""

    def forward(self, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return h


def _build(gcfg, n_chans: int, cross_attention: bool) -> nn.Module:
    """The generator that ``gcfg`` describes; without ``cross_attention``, the same U-Net with
    every cross-attention replaced by a pass-through: a plain U-Net like the issue's prototype,
    to measure in the same rounds as ours (the machine drifts too much to compare with a figure
    taken another day)."""
    torch.manual_seed(0)
    model = build_generator(gcfg, n_chans=n_chans, cond_dim=128, n_classes=4)
    if not cross_attention:
        model.down_attns = nn.ModuleList(_PassThrough() for _ in model.down_attns)
        model.mid_attn = _PassThrough()
        model.up_attns = nn.ModuleList(_PassThrough() for _ in model.up_attns)
    return model


def _train_seconds(gcfg, x, cond, n_chans: int, steps: int, cross_attention: bool) -> float:
    """Wall time of ``train_generator`` for ``steps`` steps of a freshly built model."""
    model = _build(gcfg, n_chans, cross_attention)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_generator(model, x, cond, replace(gcfg, steps=steps), device="cpu", seed=0,
                        checkpoint_dir=tmp, progress=False)
        return time.perf_counter() - start


def speed_at(n_chans: int, fs_hz: float, threads: int, overrides: list[str] | tuple = (),
             cross_attention: bool = True, train_steps: int = 20, n_generate: int = 256) -> dict:
    """Training and generation windows/s of the default model (or of the one that the config
    ``overrides`` make, with or without its ``cross_attention``) on simulated windows. The
    training rate is the steady one: the time of ``train_steps`` more steps than a 5-step run,
    so that start-up and the final checkpoint do not count."""
    torch.set_num_threads(threads)
    cfg = build_config(overrides=[f"data.sim_chans={n_chans}", f"data.sim_fs_hz={fs_hz}",
                                  "data.sim_gestures=4", "data.sim_rep_seconds=2",
                                  *overrides])
    w = prepare_windows(cfg.data, None, 1)
    x = w["x"][w["split"] == "train"]
    cond = np.random.default_rng(0).standard_normal((len(x), 128)).astype(np.float32)
    model = _build(cfg.generator, n_chans, cross_attention)
    n_params = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:  # one forward pass of 8 windows
        model(torch.from_numpy(x[:8]), torch.zeros(8, dtype=torch.long),
              torch.from_numpy(cond[:8]))
    mflops = counter.get_total_flops() / 8 / 1e6
    gcfg = replace(cfg.generator, checkpoint_every=10 ** 9)
    seconds = [_train_seconds(gcfg, x, cond, n_chans, steps, cross_attention)
               for steps in (5, 5 + train_steps)]
    train_rate = train_steps * gcfg.batch_size / (seconds[1] - seconds[0])
    rates = {}
    for steps in (25, 50):
        start = time.perf_counter()
        sample(model, cond[:n_generate], n_times=x.shape[2], steps=steps, progress=False,
               generator=torch.Generator().manual_seed(0))
        rates[steps] = n_generate / (time.perf_counter() - start)
    return {"shape": f"{n_chans} x {x.shape[2]}", "threads": threads, "params": n_params,
            "base_channels": cfg.generator.base_channels,
            "channel_mults": list(cfg.generator.channel_mults),
            "cross_attention": cross_attention, "forward_mflops": mflops,
            "train_windows_per_s": train_rate, "generate_windows_per_s_25": rates[25],
            "generate_windows_per_s_50": rates[50]}


def run_subjects(per_subject, description: str) -> tuple[argparse.Namespace, list[dict]]:
    """Parse ``--subjects``, ``--jobs`` and ``--out``, and run ``per_subject(subject, out)`` for
    each subject, ``--jobs`` of them side by side."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--subjects", nargs="+", default=["1", "2", "3"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT,
                        help="the output folder of bench/sasgda_myoup.py")
    args = parser.parse_args()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(per_subject, args.subjects, [args.out] * len(args.subjects)))
    return args, results


def main() -> int:
    _, results = run_subjects(subject_result, __doc__)
    # Speeds last, when the subject runs no longer compete for the cores.
    cases = [dict(n_chans=8, fs_hz=200.0, threads=threads) for threads in (1, 2)]
    # Models of the prototype's size (1.8 M): ours wider, and ours one level deeper
    # (which puts the extra parameters where the time axis is short); each followed by the
    # prototype's stand-in, a plain U-Net of that size and layout (ours without cross-attention,
    # widened back to 1.8 M), measured right after it in every round.
    first_pair = len(cases)
    for ours, plain in PROTOTYPE_SIZE.values():
        cases += [dict(n_chans=8, fs_hz=200.0, threads=2, overrides=ours),
                  dict(n_chans=8, fs_hz=200.0, threads=2, overrides=plain, cross_attention=False)]
    cases += [dict(n_chans=12, fs_hz=2000.0, threads=threads, train_steps=5, n_generate=64)
              for threads in (1, 2)]
    # The speed of this machine drifts by a third over minutes, so every case is measured once
    # per round, in turn, and the table gives the fastest and the slowest of the rounds.
    rounds = [[speed_at(**case) for case in cases] for _ in range(SPEED_ROUNDS)]
    speeds = []
    for measured in zip(*rounds, strict=True):
        sp = dict(measured[0])
        for key in RATES:
            sp[key] = sorted(m[key] for m in measured)
        speeds.append(sp)

    cfg = bench_config()
    g = cfg.generator
    lines = [
        "# Generator: semantic (SRG) against label conditioning", "",
        f"Generated by `python bench/generator.py` ({platform.machine()} CPU, 2 cores). "
        f"Generators as in `bench/sasgda_myoup.py` (the defaults): base_channels "
        f"{g.base_channels}, channel_mults {list(g.channel_mults)}, {g.steps} steps of batch "
        f"{g.batch_size}, EMA {g.ema_decay}{' with warm-up' if g.ema_warmup else ''}, trained "
        "one torch thread per job with two jobs side by side; "
        f"sampling {cfg.sampler.solver.upper()} {cfg.sampler.steps} steps, "
        f"{cfg.sampler.ratio:g} generated windows per real training window, balanced per "
        "class.", "",
        "## MyoUP: accuracy of the task-aware classifier on generated windows", "",
        "`semantic`: conditioned on the real training windows' features (strategy `real`); "
        "`label`: conditioned on the class label only.", "",
        "| subject | train windows | classifier test acc % | semantic: acc on generated % | "
        "label: acc on generated % | semantic RMS / real | label RMS / real | semantic train s | "
        "label train s | semantic gen windows/s | label gen windows/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        sem, lab = r["semantic"], r["label"]
        lines.append(
            f"| {r['subject']} | {r['n_train']} | {100 * r['classifier_test_accuracy']:.1f} | "
            f"{100 * sem['classifier_accuracy_on_generated']:.1f} | "
            f"{100 * lab['classifier_accuracy_on_generated']:.1f} | "
            f"{sem['rms_ratio']:.2f} | {lab['rms_ratio']:.2f} | "
            f"{sem['train_seconds']:.0f} | {lab['train_seconds']:.0f} | "
            f"{sem['generate_windows_per_s']:.0f} | {lab['generate_windows_per_s']:.0f} |")
    sem_mean = np.mean([r["semantic"]["classifier_accuracy_on_generated"] for r in results])
    lab_mean = np.mean([r["label"]["classifier_accuracy_on_generated"] for r in results])
    lines += ["", f"Mean accuracy on generated windows: semantic {100 * sem_mean:.1f} %, "
              f"label {100 * lab_mean:.1f} %.", "",
              "## Sampler settings", "",
              f"{PER_CLASS} real-conditioned windows per class from the same conditions and "
              "starting noise; accuracy of the task-aware classifier on them (%), and windows/s "
              "(one torch thread); RMS / real: their root-mean-square amplitude over that of "
              "the real windows they were conditioned on.", "",
              "| sampler | " + " | ".join(f"s{r['subject']} acc" for r in results)
              + " | mean acc | mean RMS / real | mean windows/s |",
              "|---|" + "---|" * (len(results) + 3)]
    for name in results[0]["samplers"]:
        accs = [r["samplers"][name]["accuracy"] for r in results]
        rms = np.mean([r["samplers"][name]["rms_ratio"] for r in results])
        rate = np.mean([r["samplers"][name]["windows_per_s"] for r in results])
        lines.append(f"| {name} | " + " | ".join(f"{100 * a:.1f}" for a in accs)
                     + f" | {100 * np.mean(accs):.1f} | {rms:.2f} | {rate:.0f} |")
    lines += ["", "## Cost of the generator", "",
              "Measured on an idle machine, in `sasgda`'s own training loop and sampler: "
              "training windows/s are those of 20 steps after 5 (5 after 5 at 12 x 400); "
              "generation is a batch of 256 windows at 8 x 40, 64 at 12 x 400. Each rate is "
              f"given as slowest-fastest of {SPEED_ROUNDS} rounds that measure every row in "
              "turn: the machine's speed drifts by up to a third over minutes.", "",
              "| window | torch threads | base_channels | channel_mults | cross-attention | "
              "parameters | MFLOP per forward pass and window | train windows/s (batch 128) | "
              "generate windows/s, 25 DDIM steps | 50 DDIM steps |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for sp in speeds:
        lines.append(f"| {sp['shape']} | {sp['threads']} | {sp['base_channels']} | "
                     f"{sp['channel_mults']} | {'yes' if sp['cross_attention'] else 'no'} | "
                     f"{sp['params'] / 1e6:.2f} M | "
                     f"{sp['forward_mflops']:.1f} | "
                     + " | ".join(_spread(sp[key]) for key in RATES) + " |")
    # Each of ours against the plain U-Net measured right after it: round by round, so that
    # the machine's drift mostly cancels.
    lines += ["", "Ours at 1.8 M against the plain U-Net of the same layout, as the ratio of their "
              f"rates within each round (slowest-fastest of {SPEED_ROUNDS}):", ""]
    for i, layout in enumerate(PROTOTYPE_SIZE):
        ratios = [sorted(r[first_pair + 2 * i][key] / r[first_pair + 2 * i + 1][key]
                         for r in rounds) for key in RATES[:2]]
        lines.append(f"- {layout}: training {_spread(ratios[0], '.2f')}, "
                     f"generation {_spread(ratios[1], '.2f')}")
    text = "\n".join(lines) + "\n"
    atomic_write_text(ROOT / "bench" / "results" / "generator.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
