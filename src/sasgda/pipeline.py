"""Stages chained over a run directory (design.md section 2).

Each stage reads what the stages before it wrote, runs the functions over arrays that do the
work (the same ones the Python API runs: :func:`~sasgda.training.fit_task_classifier`,
:func:`~sasgda.diffusion.fit_generator`, :class:`~sasgda.semantic.Synthesizer`, the trainer) and
writes its artifacts atomically. What each stage reads and which settings make it is the stage
table of :mod:`sasgda.stages`, whose runner also decides what is current: :func:`ensure` makes a
stage and, first, whatever it reads that is not current. The CLI only parses and calls.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sasgda.config import (
    Config,
    DownstreamConfig,
    TrainerConfig,
    check_config,
    dump_yaml,
    replace,
)
from sasgda.data import prepare_windows, summarize_windows
from sasgda.semantic.synthesis import STRATEGIES as SYNTHETIC_STRATEGIES
from sasgda.semantic.synthesis import condition_of
from sasgda.stages import (
    STAGES,
    artifact,
    begin,
    downstream_section,
    finish,
    is_fresh,
    made,
    parse,
    record,
    require,
    stale_reason,
    timings,
    verify,
)
from sasgda.utils.device import is_main_process
from sasgda.utils.io import (
    atomic_write_text,
    load_json,
    load_json_if,
    load_npz,
    save_json,
    save_npz,
)
from sasgda.utils.rundir import RunDir

log = logging.getLogger("sasgda")

# What `sasgda run`, the demo and `sasgda benchmark` compare by default: no augmentation against
# the strategy that measured best. GMSS and SASS tie on MyoUP (84.5 and 84.4 %, 8 subjects x 2
# seeds, bench/results/sasgda.md); GMSS is the simpler and cheaper of the two.
DEFAULT_METHODS = ("none", "gmss")
# What a generator may change and still resume from its checkpoint: how long it trains.
RESUMABLE = ("generator.steps", "generator.checkpoint_every")


def start_run(cfg: Config, run: RunDir, device: str) -> None:
    """Create the run directory and record the environment. The config is saved by
    :func:`prepare` and :func:`ensure_prepared` once the data are ready: a command that fails
    on bad settings must not leave them as the run's ``config.yaml``."""
    if run.root.exists() and not run.root.is_dir():
        raise NotADirectoryError(f"{run.root}: is a file; --run-dir needs a folder")
    run.root.mkdir(parents=True, exist_ok=True)
    run.record_environment(cfg.seed, device)


def load_windows(run: RunDir, cfg: Config | None = None) -> dict[str, np.ndarray]:
    """The arrays of ``data/windows.npz`` (checked against its record when ``cfg`` is given)."""
    return load_npz(require(run, "prepare", cfg) if cfg else run.require(run.windows, "prepare"))


def split_arrays(w: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of one split of the windows."""
    mask = w["split"] == split
    return w["x"][mask], w["y"][mask]


def load_classifier(run: RunDir, device: torch.device):
    from sasgda.models import MODEL_CLASSES
    from sasgda.utils.modelio import load_model

    run.require(run.classifier / "model.safetensors", "train-classifier")
    return load_model(run.classifier, MODEL_CLASSES, device=device).eval()


# --- the stages ----------------------------------------------------------------------------------


def _data_source(data_path: str | Path | None, subject: str) -> dict[str, Any]:
    return {"data_path": str(Path(data_path).resolve()) if data_path else None,
            "subject": str(subject)}


def prepare(cfg: Config, run: RunDir, data_path: str | Path | None, subject: str) -> dict:
    """`sasgda prepare`: write ``data/windows.npz`` and return its arrays."""
    source = _data_source(data_path, subject)
    with made(run, "prepare", cfg, source):
        arrays = prepare_windows(cfg.data, source["data_path"], subject)
        save_npz(run.windows, **arrays)
    run.write_config(dump_yaml(cfg))
    run.update_info(dataset=cfg.data.dataset, protocol=cfg.data.protocol, **source)
    log.info("%s\nwrote %s", summarize_windows(arrays), run.windows)
    return arrays


def train_classifier(cfg: Config, run: RunDir, device: torch.device, progress: bool = True):
    """`sasgda train-classifier`: the task-aware classifier and the semantic features.

    Writes ``classifier/`` (model.safetensors, config.json, metrics.jsonl, metrics.json) and
    ``semantic/features.npz`` (``features`` (N, D) of every window, ``y``, ``split``).
    """
    from sasgda.training import extract_features, fit_task_classifier, predict_logits
    from sasgda.utils.modelio import save_model

    w = load_windows(run, cfg)
    with made(run, "train-classifier", cfg):
        model, history = fit_task_classifier(
            cfg.classifier, *split_arrays(w, "train"), *split_arrays(w, "val"),
            len(w["classes"]), seed=cfg.seed, device=device, progress=progress,
            metrics_path=run.classifier / "metrics.jsonl", precision=cfg.precision)
        save_model(model, run.classifier)
        x_test, y_test = split_arrays(w, "test")
        test_acc = float(np.mean(predict_logits(model, x_test, device=device).argmax(1) == y_test))
        save_json(run.classifier / "metrics.json", {**history, "test_accuracy": test_acc})
        features = extract_features(model, w["x"], device=device)
        save_npz(run.features, features=features, y=w["y"], split=w["split"])
    log.info("task-aware classifier: best val acc %s (epoch %d), test acc %.3f; features %s",
             history["best_val_acc"], history["best_epoch"], test_acc, features.shape)
    return model


def train_generator(
    cfg: Config, run: RunDir, device: torch.device, condition: str | None = None,
    progress: bool = True, replace_stale: bool = False,
) -> None:
    """`sasgda train-generator`: the semantic (SRG) or label-conditioned diffusion model.

    Trains on the training windows only; resumes from ``state.pt`` when a run with the same
    settings (but perhaps fewer steps) was interrupted. Under a multi-process launch every process
    trains and the main one writes. Writes ``generator/``
    (``generator-label/`` for the label baseline). A folder that holds a generator trained with
    other settings or inputs is an error, or, with ``replace_stale`` (what `sasgda run` does with
    every stale stage), replaced by a new generator.
    """
    from sasgda.diffusion import fit_generator

    condition = condition or cfg.generator.condition
    if condition not in ("semantic", "label"):
        raise ValueError(f"--condition {condition!r}: expected semantic or label")
    name = f"train-generator-{condition}"
    w = load_windows(run, cfg)
    train = w["split"] == "train"
    if condition == "semantic":
        cond = load_npz(require(run, "train-classifier", cfg))["features"][train]
    else:
        cond = w["y"][train]
    out = run.generator_dir(condition)
    resumable = stale_reason(run, name, cfg, ignore=RESUMABLE, finished=False) is None
    if (out / "state.pt").exists() and not resumable:
        if not replace_stale:
            raise ValueError(f"{out}: holds a generator trained with another config or input; "
                             "delete that folder to train a new one")
        log.warning("%s: trained with other settings or inputs; training a new one", out)
        shutil.rmtree(out)
    # Recorded as started before training, so that an interrupted run can be resumed with more
    # steps and `generate` knows the checkpoint in the folder is not a finished one.
    main = is_main_process()
    if main:
        begin(run, name, cfg)
    start = time.perf_counter()
    fit_generator(replace(cfg.generator, condition=condition), w["x"][train], cond,
                  n_classes=len(w["classes"]),
                  cond_dim=cfg.classifier.feat_dim,
                  seed=cfg.seed, device=device, checkpoint_dir=out, progress=progress,
                  metrics_path=out / "metrics.jsonl", precision=cfg.precision,
                  compile=cfg.compile)
    if main:
        finish(run, name, cfg, time.perf_counter() - start)
    log.info("generator (%s) trained for %d steps; files in %s", condition,
             cfg.generator.steps, out)


def generate(
    cfg: Config, run: RunDir, device: torch.device, strategy: str, progress: bool = True
) -> dict[str, np.ndarray]:
    """`sasgda generate`: a synthetic set with conditions from ``strategy``
    (:mod:`sasgda.semantic.synthesis`). Writes ``synthetic/<strategy>.npz`` (``x``, ``y``,
    ``cond``, ``rarity``, ``confidence``, ``strategy``) in the normalised space of
    ``windows.npz``. Under a multi-process launch the processes share the sampling and the main
    one writes.
    """
    from sasgda.diffusion import load_generator, load_scheduler_config
    from sasgda.semantic import Synthesizer, class_quota

    if strategy not in SYNTHETIC_STRATEGIES:
        raise ValueError(f"--strategy {strategy!r}: expected one of "
                         f"{', '.join(SYNTHETIC_STRATEGIES)}")
    g = cfg.sampler
    check_config(g, "sampler")
    condition = condition_of(strategy)
    w = load_windows(run, cfg)
    train = w["split"] == "train"
    y_train, n_classes = w["y"][train], len(w["classes"])
    features = load_npz(require(run, "train-classifier", cfg))["features"][train]
    gen_dir, trained = run.generator_dir(condition), f"train-generator-{condition}"
    run.require(gen_dir / "ema.safetensors", f"train-generator --condition {condition}")
    # Sampling takes the schedule and the parameterization from the config: they must be those
    # the generator was trained with, or the windows are garbage without any error.
    if stale_reason(run, trained, cfg, ignore=RESUMABLE, finished=False):
        raise ValueError(f"{gen_dir}: trained with another generator config or classifier than "
                         f"this run's; run train-generator --condition {condition} again, or "
                         "generate with the generator settings it was trained with")
    if not record(run, trained)["done"]:
        raise ValueError(f"{gen_dir}: its training did not finish (interrupted?); run `sasgda "
                         f"train-generator --condition {condition}` to finish it")
    verify(run, trained)
    # The sampler uses the noise schedule the generator saved when it was trained.
    schedule = load_scheduler_config(gen_dir / "scheduler_config.json")
    sampling_cfg = replace(cfg, generator=replace(
        cfg.generator, num_train_timesteps=int(schedule["num_train_timesteps"]),
        beta_schedule=schedule["beta_schedule"]))
    start = time.perf_counter()
    synthesizer = Synthesizer(load_generator(gen_dir, device), load_classifier(run, device),
                              features, y_train, n_classes, w["x"].shape[2], sampling_cfg, device)
    quota = class_quota(y_train, n_classes, int(round(g.ratio * len(y_train))), g.balanced)
    main = is_main_process()
    arrays = synthesizer.generate(strategy, quota, cfg.seed, progress and main)
    if not main:
        return arrays
    if strategy in ("gmss", "sass"):
        save_npz(run.root / "semantic" / "gmss.npz", **synthesizer.gaussians.to_arrays())
    save_npz(run.synthetic(strategy), **arrays, strategy=np.array(strategy))
    finish(run, f"generate-{strategy}", cfg, time.perf_counter() - start)
    log.info("wrote %s", run.synthetic(strategy))
    return arrays


def extra_training_windows(
    cfg: Config, run: RunDir, augment: str, x_train: np.ndarray, y_train: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The windows an augmentation adds: ``synthetic_ratio`` per real training window."""
    from sasgda.augment.classic import classic_augment
    from sasgda.augment.mixing import n_extra, select_synthetic

    check_config(cfg.downstream, "downstream")
    n = n_extra(len(x_train), cfg.downstream.synthetic_ratio)
    if augment in SYNTHETIC_STRATEGIES:
        syn = load_npz(require(run, f"generate-{augment}", cfg))
        return select_synthetic(syn["x"], syn["y"], n, rng, balanced=cfg.sampler.balanced)
    return classic_augment(augment, x_train, y_train, n, rng)


def downstream_schedule(dcfg: DownstreamConfig) -> TrainerConfig:
    """The trainer settings of one downstream model: ``augmented_epochs`` (when set) over an
    augmented training set, ``train.epochs`` over the real windows alone."""
    if dcfg.augment != "none" and dcfg.augmented_epochs:
        return replace(dcfg.train, epochs=dcfg.augmented_epochs)
    return dcfg.train


def train_downstream(
    cfg: Config, run: RunDir, device: torch.device, progress: bool = True
) -> dict[str, Any]:
    """`sasgda train-downstream`: train and test one backbone, with or without augmentation.

    Writes ``downstream/<backbone>-<augment>/`` (model files, metrics.jsonl, metrics.json with
    accuracy, macro-F1, per-class recall, confusion matrix and train time).
    """
    from sasgda.augment.mixing import mix
    from sasgda.evaluation import train_and_test
    from sasgda.utils.modelio import save_model

    dcfg = cfg.downstream
    w = load_windows(run, cfg)
    out = run.downstream(dcfg.backbone, dcfg.augment)
    x_train, y_train = split_arrays(w, "train")
    n_real = len(x_train)
    if dcfg.augment != "none":
        extra = extra_training_windows(cfg, run, dcfg.augment, x_train, y_train,
                                       np.random.default_rng(cfg.seed))
        x_train, y_train = mix(x_train, y_train, *extra)
    train_cfg = downstream_schedule(dcfg)
    with made(run, f"downstream-{dcfg.backbone}-{dcfg.augment}", cfg):
        model, scores = train_and_test(
            dcfg.backbone, (x_train, y_train), split_arrays(w, "val"), split_arrays(w, "test"),
            len(w["classes"]), train_cfg, seed=cfg.seed, device=device, progress=progress,
            metrics_path=out / "metrics.jsonl", desc=f"{dcfg.backbone}-{dcfg.augment}",
            precision=cfg.precision)
        metrics = {"backbone": dcfg.backbone, "augment": dcfg.augment, "seed": cfg.seed,
                   **scores, "classes": w["classes"].tolist(), "n_train_real": n_real,
                   "n_train_extra": len(x_train) - n_real}
        save_model(model, out)
        save_json(out / "metrics.json", metrics)
    log.info("%s-%s: test accuracy %.4f, macro-F1 %.4f (%.0f s)", dcfg.backbone, dcfg.augment,
             metrics["accuracy"], metrics["macro_f1"], metrics["train_seconds"])
    return metrics


# --- `sasgda evaluate`: generation quality ------------------------------------------------------

def train_evaluator(cfg: Config, run: RunDir, device: torch.device, progress: bool = True):
    """The evaluator network of the generation-quality metrics, saved in ``evaluator/``
    (:func:`~sasgda.evaluation.synthetic.fit_evaluator`)."""
    from sasgda.evaluation.synthetic import fit_evaluator
    from sasgda.models import MODEL_CLASSES
    from sasgda.utils.modelio import load_model, save_model

    out = run.root / "evaluator"
    if is_fresh(run, "evaluator", cfg):
        return load_model(out, MODEL_CLASSES, device=device).eval()
    w = load_windows(run, cfg)
    with made(run, "evaluator", cfg):
        model = fit_evaluator(cfg.evaluate, split_arrays(w, "train"), split_arrays(w, "val"),
                              len(w["classes"]), seed=cfg.seed, device=device,
                              progress=progress, precision=cfg.precision)
        save_model(model, out)
    return model


def evaluate(cfg: Config, run: RunDir, device: torch.device, progress: bool = True,
             strategies: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
    """`sasgda evaluate`: FID, CAS, AvgKNN, LOF, rarity and PRDC of every synthetic set against
    the real training windows (:func:`~sasgda.evaluation.synthetic.synthetic_quality`). Writes
    ``metrics.json`` in the run directory.
    """
    from sasgda.evaluation.synthetic import synthetic_quality
    from sasgda.training import extract_features

    w = load_windows(run, cfg)
    found = sorted(p.stem for p in (run.root / "synthetic").glob("*.npz"))
    strategies = strategies or tuple(found)
    if not strategies:
        raise FileNotFoundError(f"{run.root / 'synthetic'}: no synthetic set; run "
                                "`sasgda generate` first")
    for strategy in strategies:  # before the evaluator trains
        if strategy not in SYNTHETIC_STRATEGIES:
            raise ValueError(f"--strategies {strategy}: expected some of "
                             f"{', '.join(SYNTHETIC_STRATEGIES)}")
    sets = {strategy: require(run, f"generate-{strategy}", cfg) for strategy in strategies}
    evaluator = train_evaluator(cfg, run, device, progress)
    real = extract_features(evaluator, split_arrays(w, "train")[0], device=device)
    results = {}
    for strategy in strategies:
        start = time.perf_counter()
        syn = load_npz(sets[strategy])
        metrics = synthetic_quality(
            cfg.evaluate, evaluator, real, (syn["x"], syn["y"]),
            split_arrays(w, "val"), split_arrays(w, "test"), len(w["classes"]), seed=cfg.seed,
            device=device, progress=progress, precision=cfg.precision)
        results[strategy] = {**metrics, "mean_confidence": float(np.mean(syn["confidence"]))}
        save_json(run.root / "metrics.json", {**load_json_if(run.root / "metrics.json"),
                                              strategy: results[strategy]})
        finish(run, f"evaluate-{strategy}", cfg, time.perf_counter() - start)
        log.info("%s: FID %.3f, CAS %.3f, AvgKNN %.3f, rarity %.3f, precision %.3f, "
                 "recall %.3f", strategy, metrics["fid"], metrics["cas"], metrics["avg_knn"],
                 metrics["rarity"], metrics["precision"], metrics["recall"])
    return results


# --- making what is missing: `sasgda run` and the benchmark ---------------------------------------


def _make_downstream(cfg: Config, run: RunDir, device: torch.device, param: str,
                     progress: bool) -> None:
    train_downstream(replace(cfg, downstream=downstream_section(cfg, param)), run, device,
                     progress)


# How `ensure` makes each kind of stage, given its parameter.
MAKERS = {
    "train-classifier": lambda cfg, run, device, _, progress:
        train_classifier(cfg, run, device, progress),
    "train-generator": lambda cfg, run, device, condition, progress:
        train_generator(cfg, run, device, condition, progress, replace_stale=True),
    "generate": lambda cfg, run, device, strategy, progress:
        generate(cfg, run, device, strategy, progress),
    "downstream": _make_downstream,
}


def ensure(cfg: Config, run: RunDir, device: torch.device, name: str, progress: bool) -> None:
    """Make stage ``name`` unless it is current, after making what it reads that is not.

    ``prepare`` is made by :func:`ensure_prepared`, which knows the data.
    """
    kind, param = parse(name)
    for upstream in STAGES[kind].inputs(param):
        ensure(cfg, run, device, upstream, progress)
    if is_fresh(run, name, cfg):
        return
    if kind == "prepare":
        require(run, "prepare", cfg)  # an error naming the command that prepares the data
    MAKERS[kind](cfg, run, device, param, progress)


def ensure_prepared(cfg: Config, run: RunDir, data_path: str | Path | None, subject: str) -> None:
    if not is_fresh(run, "prepare", cfg, _data_source(data_path, subject)):
        prepare(cfg, run, data_path, subject)  # saves the config itself
    else:
        run.write_config(dump_yaml(cfg))


def run_all(
    cfg: Config, run: RunDir, device: torch.device, data_path: str | Path | None, subject: str,
    progress: bool = True, methods: tuple[str, ...] = DEFAULT_METHODS,
) -> str:
    """Every stage for one subject with the defaults; returns (and saves) the accuracy table.

    Stages whose artifacts are current (same config, same inputs) are skipped, so an interrupted
    run continues where it stopped when started again with the same command.
    """
    from sasgda.viz.tables import accuracy_table  # not at the top: sasgda.viz loads matplotlib

    ensure_prepared(cfg, run, data_path, subject)
    names = [f"downstream-{cfg.downstream.backbone}-{method}" for method in methods]
    for name in names:
        ensure(cfg, run, device, name, progress)
    table = accuracy_table([load_json(artifact(run, name)) for name in names])
    report = "\n".join([
        f"# sasgda run: {cfg.data.dataset}, subject {subject}, {cfg.data.protocol}", "",
        table, "", "## Stage timings (s)", "",
        *[f"- {stage}: {seconds:.1f}" for stage, seconds in timings(run).items()], "",
    ])
    atomic_write_text(run.root / "report.md", report)
    return table
