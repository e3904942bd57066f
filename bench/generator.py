"""SRG against label-only conditioning on MyoUP subjects 1-3, and the generator's cost.

For each subject: prepare (intra-subject), train the task-aware classifier, train the semantic
and the label-conditioned generators with the default config, generate from real training
features (`real`) and from labels (`label`), and score the generated windows with the subject's
task-aware classifier (accuracy = fraction classified as the class they were generated for).
Then the default model's training and generation speed at NinaPro size (12 x 400, simulated).
Writes bench/results/generator.md.

    python bench/generator.py [--subjects 1 2 3] [--ratio 0.5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from sasgda import pipeline
from sasgda.config import build_config, replace
from sasgda.training import predict_logits
from sasgda.utils.io import atomic_write_text, load_json, load_npz, save_json
from sasgda.utils.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
MYOUP = ROOT.parent / "shared" / "data" / "myoup-ninapro"


def subject_result(subject: str, out: Path, ratio: float) -> dict:
    torch.set_num_threads(1)
    cached = out / f"s{subject}.json"
    if cached.is_file():
        return load_json(cached)
    cfg = build_config(overrides=["data.dataset=myoup", "device=cpu",
                                  f"generate.ratio={ratio}"])
    run = RunDir(out / f"s{subject}")
    device = torch.device("cpu")
    pipeline.start_run(cfg, run, "cpu")
    pipeline.ensure_prepared(cfg, run, str(MYOUP), subject)
    pipeline.ensure_classifier(cfg, run, device, progress=False)
    classifier = pipeline.load_classifier(run, device)
    n_train = int((load_npz(run.windows)["split"] == "train").sum())
    result = {"subject": subject, "n_train": n_train}
    for strategy, condition in (("real", "semantic"), ("label", "label")):
        pipeline.ensure_generator(cfg, run, device, condition, progress=False)
        start = time.perf_counter()
        syn = pipeline.generate(cfg, run, device, strategy, progress=False)
        gen_seconds = time.perf_counter() - start
        acc = float(np.mean(predict_logits(classifier, syn["x"], device=device).argmax(1)
                            == syn["y"]))
        info = run.info()["timings_s"]
        result[condition] = {
            "train_seconds": info[f"train-generator-{condition}"],
            "train_windows_per_s": cfg.generator.steps * cfg.generator.batch_size
            / info[f"train-generator-{condition}"],
            "generated": len(syn["x"]),
            "generate_windows_per_s": len(syn["x"]) / gen_seconds,
            "classifier_accuracy_on_generated": acc,
        }
    result["classifier_test_accuracy"] = load_json(run.classifier / "metrics.json")[
        "test_accuracy"]
    save_json(cached, result)
    return result


def speed_at(n_chans: int, fs_hz: float, threads: int, train_steps: int = 20,
             n_generate: int = 64) -> dict:
    """Training and generation windows/s of the default model on simulated windows."""
    import tempfile

    from sasgda.data import prepare_windows
    from sasgda.diffusion import build_generator, sample, train_generator

    torch.set_num_threads(threads)
    cfg = build_config(overrides=[f"data.sim_chans={n_chans}", f"data.sim_fs_hz={fs_hz}",
                                  "data.sim_gestures=4", "data.sim_rep_seconds=2"])
    w = prepare_windows(cfg.data, None, 1)
    x = w["x"][w["split"] == "train"]
    cond = np.random.default_rng(0).standard_normal((len(x), 128)).astype(np.float32)
    torch.manual_seed(0)
    model = build_generator(cfg.generator, n_chans=n_chans, cond_dim=128, n_classes=4)
    n_params = sum(p.numel() for p in model.parameters())
    gcfg = replace(cfg.generator, steps=train_steps, checkpoint_every=10 ** 9)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_generator(model, x, cond, gcfg, device="cpu", seed=0, checkpoint_dir=tmp,
                        progress=False)
        train_rate = train_steps * gcfg.batch_size / (time.perf_counter() - start)
    rates = {}
    for steps in (25, 50):
        start = time.perf_counter()
        sample(model, cond[:n_generate], n_times=x.shape[2], steps=steps, progress=False,
               generator=torch.Generator().manual_seed(0))
        rates[steps] = n_generate / (time.perf_counter() - start)
    return {"shape": f"{n_chans} x {x.shape[2]}", "threads": threads, "params": n_params,
            "train_windows_per_s": train_rate, "generate_windows_per_s_25": rates[25],
            "generate_windows_per_s_50": rates[50]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", nargs="+", default=["1", "2", "3"])
    parser.add_argument("--ratio", type=float, default=0.5,
                        help="synthetic windows per real one for the accuracy check")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-generator")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    speeds = [speed_at(8, 200.0, t) for t in (1, 2)] + [speed_at(12, 2000.0, t) for t in (1, 2)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(subject_result, args.subjects, [args.out] * len(args.subjects),
                                [args.ratio] * len(args.subjects)))
    cfg = build_config()
    g = cfg.generator
    lines = [
        "# Generator: semantic (SRG) against label conditioning", "",
        f"Generated by `python bench/generator.py` ({platform.machine()} CPU, 2 cores, "
        f"{args.jobs} subjects in parallel, one torch thread each). Default generator: "
        f"base_channels {g.base_channels}, channel_mults {list(g.channel_mults)}, "
        f"{g.steps} steps of batch {g.batch_size}, EMA {g.ema_decay}; sampling DDIM "
        f"{cfg.generate.steps} steps. {args.ratio:g} generated windows per real training "
        "window, balanced per class.", "",
        "## MyoUP: accuracy of the task-aware classifier on generated windows", "",
        "| subject | classifier test acc % | semantic: acc on generated % | label: acc on "
        "generated % | semantic train s | label train s | semantic gen windows/s | "
        "label gen windows/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s, lab = r["semantic"], r["label"]
        lines.append(
            f"| {r['subject']} | {100 * r['classifier_test_accuracy']:.1f} | "
            f"{100 * s['classifier_accuracy_on_generated']:.1f} | "
            f"{100 * lab['classifier_accuracy_on_generated']:.1f} | {s['train_seconds']:.0f} | "
            f"{lab['train_seconds']:.0f} | {s['generate_windows_per_s']:.0f} | "
            f"{lab['generate_windows_per_s']:.0f} |")
    sem = [r["semantic"]["classifier_accuracy_on_generated"] for r in results]
    lab = [r["label"]["classifier_accuracy_on_generated"] for r in results]
    lines += ["", f"Mean accuracy on generated windows: semantic {100 * np.mean(sem):.1f} %, "
              f"label {100 * np.mean(lab):.1f} %.", "",
              "## Cost of the default model", "",
              "| window | torch threads | parameters | train windows/s (batch 128) | "
              "generate windows/s, 25 DDIM steps | 50 DDIM steps |",
              "|---|---|---|---|---|---|"]
    for sp in speeds:
        lines.append(f"| {sp['shape']} | {sp['threads']} | {sp['params'] / 1e6:.2f} M | "
                     f"{sp['train_windows_per_s']:.0f} | {sp['generate_windows_per_s_25']:.0f} | "
                     f"{sp['generate_windows_per_s_50']:.1f} |")
    text = "\n".join(lines) + "\n"
    atomic_write_text(ROOT / "bench" / "results" / "generator.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
