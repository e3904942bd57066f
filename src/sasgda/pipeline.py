"""Stages chained over a run directory (design.md section 2).

Each stage reads the artifacts of the stages before it from the run directory, calls the library
functions that do the work on arrays, and writes its own artifacts atomically. A stage records a
fingerprint of its config section and of its inputs' fingerprints in ``run_info.json``; `sasgda
run` skips a stage whose artifacts exist with the same fingerprint. The CLI only parses and calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sasgda.config import Config, check_config, dump_yaml, replace, to_dict
from sasgda.data import prepare_windows, summarize_windows
from sasgda.semantic.synthesis import STRATEGIES as SYNTHETIC_STRATEGIES
from sasgda.semantic.synthesis import condition_of
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

# What `sasgda run` and the demo compare: no augmentation against the strategy that measured best
# (SASS with neighbour candidates, bench/results/reference-gap.md).
DEFAULT_METHODS = ("none", "sass")


def check_names(cfg: Config) -> None:
    """Raise a one-line ValueError for a name in ``cfg`` that no registry knows (dataset,
    protocol, backbones, augmentation, solver, ...) or a generator the settings cannot build.

    The config's numbers are checked when it is built (:func:`sasgda.config.check_config`);
    this checks the rest up front, so that ``sasgda run`` with a misspelt downstream backbone
    fails at once, not after the classifier and the generator have trained.
    """
    from sasgda.augment.classic import CLASSIC_AUGMENTATIONS
    from sasgda.data import get_dataset
    from sasgda.data.prepare import PROTOCOLS
    from sasgda.diffusion import CONDITIONS, PARAMETERIZATIONS, SOLVERS, build_generator
    from sasgda.diffusion.schedulers import TIMESTEP_SPACINGS, make_noise_scheduler
    from sasgda.models import BACKBONES
    from sasgda.models.unet1d import PAD_MODES
    from sasgda.semantic.sass import SASS_CANDIDATES
    from sasgda.training.trainer import SCHEDULES

    info = get_dataset(cfg.data.dataset)
    names = [
        ("data.protocol", cfg.data.protocol, PROTOCOLS),
        ("classifier.backbone", cfg.classifier.backbone, BACKBONES),
        ("generator.condition", cfg.generator.condition, CONDITIONS),
        ("generator.parameterization", cfg.generator.parameterization, PARAMETERIZATIONS),
        ("generate.solver", cfg.generate.solver, SOLVERS),
        ("downstream.backbone", cfg.downstream.backbone, BACKBONES),
        ("downstream.augment", cfg.downstream.augment,
         ("none", *CLASSIC_AUGMENTATIONS, *SYNTHETIC_STRATEGIES)),
        ("evaluate.evaluator_backbone", cfg.evaluate.evaluator_backbone, BACKBONES),
        ("generator.pad_mode", cfg.generator.pad_mode, PAD_MODES),
        ("generate.timestep_spacing", cfg.generate.timestep_spacing, TIMESTEP_SPACINGS),
        ("sampling.candidates", cfg.sampling.candidates, SASS_CANDIDATES),
        *[(f"{where}.train.schedule", section.train.schedule, SCHEDULES) for where, section in
          (("classifier", cfg.classifier), ("downstream", cfg.downstream),
           ("evaluate", cfg.evaluate))],
    ]
    for key, value, valid in names:
        if value not in valid:
            raise ValueError(f"{key}={value!r}: expected one of {', '.join(valid)}")
    if cfg.data.protocol not in info.protocols:
        raise ValueError(f"data.protocol={cfg.data.protocol!r}: dataset {info.name} has "
                         f"{', '.join(info.protocols)}")
    if cfg.generate.eta != 0 and cfg.generate.solver != "ddim":
        raise ValueError(f"generate.eta={cfg.generate.eta:g}: only the ddim solver has eta; use "
                         f"eta=0 with {cfg.generate.solver!r}")
    make_noise_scheduler(cfg.generator)  # an unknown beta_schedule
    try:  # widths that the attention heads do not divide, say
        build_generator(cfg.generator, n_chans=1, cond_dim=cfg.classifier.feat_dim, n_classes=2)
    except ValueError as err:
        raise ValueError(f"generator.{err}") from None


# --- bookkeeping ---------------------------------------------------------------------------------


def fingerprint(*parts: Any) -> str:
    """A short stable hash of config sections and upstream fingerprints."""
    text = json.dumps([to_dict(p) if hasattr(p, "__dataclass_fields__") else p for p in parts],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_fresh(run: RunDir, stage: str, fp: str, artifact: Path) -> bool:
    """True when ``artifact`` exists and was made by ``stage`` with fingerprint ``fp``."""
    return artifact.exists() and run.info().get("stages", {}).get(stage) == fp


def stage_fingerprint(run: RunDir, stage: str) -> str:
    return run.info().get("stages", {}).get(stage, "")


def settings_of(**parts: Any) -> dict[str, Any]:
    """Config sections and values as flat ``section.key: value`` pairs (YAML-friendly)."""
    flat: dict[str, Any] = {}
    for name, part in parts.items():
        value = to_dict(part) if hasattr(part, "__dataclass_fields__") else part
        if isinstance(value, dict):
            flat.update({f"{name}.{k}": v for k, v in settings_of(**value).items()})
        else:
            flat[name] = value
    return flat


def _mark(run: RunDir, stage: str, fp: str, made_with: dict[str, Any] | None = None) -> None:
    """Record that ``stage`` made its output with fingerprint ``fp`` and, to name what changed
    when it is out of date, the settings it was ``made_with`` (see :func:`settings_of`)."""
    info = run.info()
    values: dict[str, Any] = {} if made_with is None else {"made_with": {stage: made_with}}
    if info.get("stages", {}).get(stage) != fp:
        # The order in which the stages last changed what they made (see `outdated`).
        changed = info.get("changed", {})
        values.update(stages={stage: fp}, changed={stage: max(changed.values(), default=0) + 1})
    if values:
        run.update_info(**values)


def outdated(run: RunDir, stage: str, inputs: list[str]) -> bool:
    """True when one of the ``inputs`` stages changed what it made after ``stage`` last did: what
    ``stage`` made then describes old windows, features or synthetic sets. A run from before this
    bookkeeping (no order recorded) counts as current."""
    changed = run.info().get("changed", {})
    return stage in changed and any(changed.get(i, 0) > changed[stage] for i in inputs)


def require_current(run: RunDir, stage: str, fp: str, artifact: Path, command: str,
                    settings: dict[str, Any] | None = None) -> Path:
    """``artifact``, once it is known to be what ``stage`` made from the run's present settings
    and upstream artifacts; otherwise a one-line error naming the command that remakes it and,
    where the stage recorded them, the first of its ``settings`` that has changed since.

    The single-stage commands use what earlier stages left; after ``prepare`` is rerun on other
    data, say, the classifier and everything after it describe the old windows.
    """
    run.require(artifact, command)
    if not is_fresh(run, stage, fp, artifact):
        made_with = run.info().get("made_with", {}).get(stage, {})
        changed = [k for k in settings or {} if k in made_with and made_with[k] != settings[k]]
        why = (f"made with {changed[0]}={made_with[changed[0]]!r}, the run's settings now say "
               f"{settings[changed[0]]!r}" if changed else
               "made from other data or settings than the run's present ones")
        raise ValueError(f"{artifact}: out of date ({why}); run `sasgda {command}` again")
    return artifact


def start_run(cfg: Config, run: RunDir, device: str) -> None:
    """Create the run directory and record the environment. The config is saved by
    :func:`prepare` and :func:`ensure_prepared` once the data are ready: a command that fails
    on bad settings must not leave them as the run's ``config.yaml``."""
    if run.root.exists() and not run.root.is_dir():
        raise NotADirectoryError(f"{run.root}: is a file; --run-dir needs a folder")
    run.root.mkdir(parents=True, exist_ok=True)
    run.record_environment(cfg.seed, device)


def load_windows(run: RunDir) -> dict[str, np.ndarray]:
    """The arrays of ``data/windows.npz``."""
    return load_npz(run.require(run.windows, "prepare"))


def split_arrays(w: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of one split of the windows."""
    mask = w["split"] == split
    return w["x"][mask], w["y"][mask]


# --- stages --------------------------------------------------------------------------------------


def _resolved(data_path: str | Path | None) -> str | None:
    return str(Path(data_path).resolve()) if data_path else None


def _prepare_fp(cfg: Config, data_path: str | None, subject: str) -> str:
    return fingerprint(cfg.data, data_path, str(subject))


def _classifier_fp(cfg: Config, run: RunDir) -> str:
    return fingerprint(stage_fingerprint(run, "prepare"), cfg.classifier, cfg.seed)


def prepare(cfg: Config, run: RunDir, data_path: str | Path | None, subject: str) -> dict:
    """`sasgda prepare`: write ``data/windows.npz`` and return its arrays."""
    data_path = _resolved(data_path)
    with run.timed("prepare"):
        arrays = prepare_windows(cfg.data, data_path, subject)
        save_npz(run.windows, **arrays)
    run.write_config(dump_yaml(cfg))
    run.update_info(dataset=cfg.data.dataset, data_path=data_path, subject=str(subject),
                    protocol=cfg.data.protocol)
    _mark(run, "prepare", _prepare_fp(cfg, data_path, subject))
    log.info("%s\nwrote %s", summarize_windows(arrays), run.windows)
    return arrays


def train_classifier(cfg: Config, run: RunDir, device: torch.device, progress: bool = True):
    """`sasgda train-classifier`: the task-aware classifier and the semantic features.

    Writes ``classifier/`` (model.safetensors, config.json, metrics.jsonl, metrics.json) and
    ``semantic/features.npz`` (``features`` (N, D) of every window, ``y``, ``split``).
    """
    from sasgda.training import extract_features, fit_task_classifier, predict_logits
    from sasgda.utils.modelio import save_model

    w = load_windows(run)
    with run.timed("train-classifier"):
        model, history = fit_task_classifier(
            cfg.classifier, *split_arrays(w, "train"), *split_arrays(w, "val"),
            len(w["classes"]), seed=cfg.seed, device=device, progress=progress,
            metrics_path=run.classifier / "metrics.jsonl")
        save_model(model, run.classifier)
        x_test, y_test = split_arrays(w, "test")
        test_acc = float(np.mean(predict_logits(model, x_test, device=device).argmax(1) == y_test))
        save_json(run.classifier / "metrics.json", {**history, "test_accuracy": test_acc})
        features = extract_features(model, w["x"], device=device)
        save_npz(run.features, features=features, y=w["y"], split=w["split"])
    _mark(run, "train-classifier", _classifier_fp(cfg, run), _classifier_settings(cfg))
    log.info("task-aware classifier: best val acc %.3f (epoch %d), test acc %.3f; features %s",
             history["best_val_acc"], history["best_epoch"], test_acc, features.shape)
    return model


def load_classifier(run: RunDir, device: torch.device):
    from sasgda.models import MODEL_CLASSES
    from sasgda.utils.modelio import load_model

    run.require(run.classifier / "model.safetensors", "train-classifier")
    return load_model(run.classifier, MODEL_CLASSES, device=device).eval()


def extra_training_windows(
    cfg: Config, run: RunDir, augment: str, x_train: np.ndarray, y_train: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The windows an augmentation adds: ``synthetic_ratio`` per real training window."""
    from sasgda.augment.mixing import n_extra

    check_config(cfg.downstream, "downstream")
    n = n_extra(len(x_train), cfg.downstream.synthetic_ratio)
    if augment in SYNTHETIC_STRATEGIES:
        from sasgda.augment.mixing import select_synthetic

        syn = load_npz(_current_synthetic(cfg, run, augment))
        return select_synthetic(syn["x"], syn["y"], n, rng, balanced=cfg.generate.balanced)
    from sasgda.augment.classic import classic_augment

    return classic_augment(augment, x_train, y_train, n, rng)


def _downstream_fp(cfg: Config, run: RunDir) -> str:
    return fingerprint(stage_fingerprint(run, "prepare"),
                       stage_fingerprint(run, f"generate-{cfg.downstream.augment}"),
                       cfg.downstream, cfg.seed)


def train_downstream(
    cfg: Config, run: RunDir, device: torch.device, progress: bool = True
) -> dict[str, Any]:
    """`sasgda train-downstream`: train and test one backbone, with or without augmentation.

    Writes ``downstream/<backbone>-<augment>/`` (model files, metrics.jsonl, metrics.json with
    accuracy, macro-F1, per-class recall, confusion matrix and train time).
    """
    from sasgda.augment.mixing import mix
    from sasgda.evaluation import classification_metrics
    from sasgda.models import build_classifier
    from sasgda.training import fit, predict_logits
    from sasgda.utils.modelio import save_model

    dcfg = cfg.downstream
    stage = f"downstream-{dcfg.backbone}-{dcfg.augment}"
    w = load_windows(run)
    out = run.downstream(dcfg.backbone, dcfg.augment)
    # Unmarked until the new result is saved: `run` must not take an interrupted or
    # differently-trained result for the one its settings describe.
    _mark(run, stage, "")
    x_train, y_train = split_arrays(w, "train")
    n_real = len(x_train)
    rng = np.random.default_rng(cfg.seed)
    if dcfg.augment != "none":
        x_extra, y_extra = extra_training_windows(cfg, run, dcfg.augment, x_train, y_train, rng)
        x_train, y_train = mix(x_train, y_train, x_extra, y_extra)
    train_cfg = dcfg.train
    if dcfg.augment != "none" and dcfg.augmented_epochs:
        train_cfg = replace(train_cfg, epochs=dcfg.augmented_epochs)
    with run.timed(f"train-downstream {dcfg.backbone}-{dcfg.augment}"):
        torch.manual_seed(cfg.seed)
        model = build_classifier(dcfg.backbone, n_chans=w["x"].shape[1], n_times=w["x"].shape[2],
                                 n_classes=len(w["classes"]))
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        history = fit(model, x_train, y_train, *split_arrays(w, "val"), train_cfg,
                      device=device, seed=cfg.seed, progress=progress,
                      metrics_path=out / "metrics.jsonl",
                      desc=f"{dcfg.backbone}-{dcfg.augment}")
        train_seconds = time.perf_counter() - start
        x_test, y_test = split_arrays(w, "test")
        y_pred = predict_logits(model, x_test, device=device).argmax(1)
        metrics = {
            "backbone": dcfg.backbone,
            "augment": dcfg.augment,
            "seed": cfg.seed,
            **classification_metrics(y_test, y_pred, len(w["classes"])),
            "classes": w["classes"].tolist(),
            "n_train_real": n_real,
            "n_train_extra": len(x_train) - n_real,
            "best_epoch": history["best_epoch"],
            "best_val_acc": history["best_val_acc"],
            "train_seconds": round(train_seconds, 2),
        }
        save_model(model, out)
        save_json(out / "metrics.json", metrics)
    _mark(run, stage, _downstream_fp(cfg, run))
    log.info("%s-%s: test accuracy %.4f, macro-F1 %.4f (%.0f s)", dcfg.backbone, dcfg.augment,
             metrics["accuracy"], metrics["macro_f1"], train_seconds)
    return metrics


# --- skip-if-fresh wrappers used by `run` and `benchmark` ----------------------------------------


def _classifier_settings(cfg: Config) -> dict[str, Any]:
    return settings_of(classifier=cfg.classifier, seed=cfg.seed)


def _current_features(cfg: Config, run: RunDir) -> Path:
    return require_current(run, "train-classifier", _classifier_fp(cfg, run), run.features,
                           "train-classifier", _classifier_settings(cfg))


def ensure_prepared(cfg: Config, run: RunDir, data_path: str | Path | None, subject: str) -> None:
    data_path = _resolved(data_path)
    if not is_fresh(run, "prepare", _prepare_fp(cfg, data_path, subject), run.windows):
        prepare(cfg, run, data_path, subject)  # saves the config itself
    else:
        run.write_config(dump_yaml(cfg))


def ensure_classifier(cfg: Config, run: RunDir, device: torch.device, progress: bool) -> None:
    if not is_fresh(run, "train-classifier", _classifier_fp(cfg, run), run.features):
        train_classifier(cfg, run, device, progress=progress)


# --- SRG: the conditional generator and offline generation ---------------------------------------


def _generator_identity(cfg: Config, run: RunDir, condition: str) -> str:
    """What makes a generator checkpoint resumable: everything but the length of training."""
    upstream = "train-classifier" if condition == "semantic" else "prepare"
    gen = replace(cfg.generator, condition=condition, steps=0, checkpoint_every=0)
    return fingerprint(stage_fingerprint(run, upstream), gen, cfg.seed)


def _generator_fp(cfg: Config, run: RunDir, condition: str) -> str:
    return fingerprint(_generator_identity(cfg, run, condition), cfg.generator.steps)


def train_generator(
    cfg: Config, run: RunDir, device: torch.device, condition: str | None = None,
    progress: bool = True, replace_stale: bool = False,
) -> None:
    """`sasgda train-generator`: the semantic (SRG) or label-conditioned diffusion model.

    Trains on the training windows only; resumes from ``state.pt`` when a run was interrupted.
    Writes ``generator/`` (``generator-label/`` for the label baseline). A folder that holds a
    generator trained with other settings or inputs is an error, or, with ``replace_stale``
    (what `sasgda run` does with every stale stage), replaced by a new generator.
    """
    from sasgda.diffusion import fit_generator

    condition = condition or cfg.generator.condition
    if condition not in ("semantic", "label"):
        raise ValueError(f"--condition {condition!r}: expected semantic or label")
    gcfg = replace(cfg.generator, condition=condition)
    w = load_windows(run)
    train = w["split"] == "train"
    if condition == "semantic":
        features = load_npz(_current_features(cfg, run))["features"]
        cond = features[train]
    else:
        cond = w["y"][train]
    out = run.generator_dir(condition)
    identity = _generator_identity(cfg, run, condition)
    started = run.info().get("stages", {}).get(f"train-generator-{condition}-identity")
    if (out / "state.pt").exists() and started != identity:
        if not replace_stale:
            raise ValueError(f"{out}: holds a generator trained with another config or input; "
                             "delete that folder to train a new one")
        log.warning("%s: trained with other settings or inputs; training a new one", out)
        shutil.rmtree(out)
    # The identity is recorded before training, so that an interrupted run can be resumed with
    # more steps; the stage's mark is cleared until training ends, so that `generate` knows the
    # checkpoint in the folder is a finished one.
    run.update_info(stages={f"train-generator-{condition}-identity": identity,
                            f"train-generator-{condition}": ""})
    with run.timed(f"train-generator-{condition}"):
        fit_generator(gcfg, w["x"][train], cond, n_classes=len(w["classes"]),
                      cond_dim=cond.shape[1] if cond.ndim == 2 else cfg.classifier.feat_dim,
                      seed=cfg.seed, device=device, checkpoint_dir=out, progress=progress,
                      metrics_path=out / "metrics.jsonl")
    _mark(run, f"train-generator-{condition}", _generator_fp(cfg, run, condition))
    log.info("generator (%s) trained for %d steps; files in %s", condition, gcfg.steps, out)


def ensure_generator(cfg: Config, run: RunDir, device: torch.device, condition: str,
                     progress: bool) -> None:
    if condition == "semantic":
        ensure_classifier(cfg, run, device, progress)
    out = run.generator_dir(condition)
    if not is_fresh(run, f"train-generator-{condition}", _generator_fp(cfg, run, condition),
                    out / "ema.safetensors"):
        train_generator(cfg, run, device, condition, progress=progress, replace_stale=True)


def generate(
    cfg: Config, run: RunDir, device: torch.device, strategy: str, progress: bool = True
) -> dict[str, np.ndarray]:
    """`sasgda generate`: a synthetic set with conditions from ``strategy``.

    ``real``: the real training features (SRG); ``label``: class labels (label-only baseline);
    ``gmss``: draws from the per-class Gaussians; ``sass``: sparse-aware conditions with
    confidence filtering of the conditions and of the generated windows, redrawn until the quota
    is met. Writes ``synthetic/<strategy>.npz`` (``x``, ``y``, ``cond``, ``rarity``,
    ``confidence``, ``strategy``) in the normalised space of ``windows.npz``.
    """
    if strategy not in SYNTHETIC_STRATEGIES:
        raise ValueError(f"--strategy {strategy!r}: expected one of "
                         f"{', '.join(SYNTHETIC_STRATEGIES)}")
    check_config(cfg.generate, "generate")
    with run.timed(f"generate-{strategy}"):
        arrays = _generate(cfg, run, device, strategy, progress)
    _mark(run, f"generate-{strategy}", _synthetic_fp(cfg, run, strategy),
          _synthetic_settings(cfg, strategy))
    return arrays


def _generate(cfg: Config, run: RunDir, device: torch.device, strategy: str, progress: bool):
    from sasgda.diffusion import load_generator
    from sasgda.semantic import Synthesizer, class_quota

    g = cfg.generate
    condition = condition_of(strategy)
    w = load_windows(run)
    train = w["split"] == "train"
    y_train, n_classes = w["y"][train], len(w["classes"])
    features = load_npz(_current_features(cfg, run))["features"][train]
    classifier = load_classifier(run, device)
    gen_dir = run.generator_dir(condition)
    run.require(gen_dir / "ema.safetensors", f"train-generator --condition {condition}")
    # Sampling takes the schedule and the parameterization from the config: they must be those
    # the generator was trained with, or the windows are garbage without any error.
    trained = run.info().get("stages", {}).get(f"train-generator-{condition}-identity")
    if trained != _generator_identity(cfg, run, condition):
        raise ValueError(f"{gen_dir}: trained with another generator config or classifier than "
                         f"this run's; run train-generator --condition {condition} again, or "
                         "generate with the generator settings it was trained with")
    if not stage_fingerprint(run, f"train-generator-{condition}"):
        raise ValueError(f"{gen_dir}: its training did not finish (interrupted?); run `sasgda "
                         f"train-generator --condition {condition}` to finish it")
    if g.guidance_scale != 1 and cfg.generator.cond_dropout == 0:
        raise ValueError(f"generate.guidance_scale={g.guidance_scale:g}: {gen_dir} was trained "
                         "with generator.cond_dropout=0, so its null condition, which guidance "
                         "needs, never learned anything; use guidance_scale=1 or train with "
                         "condition dropout")
    synthesizer = Synthesizer(load_generator(gen_dir, device), classifier, features, y_train,
                              n_classes, w["x"].shape[2], cfg, device)
    if strategy in ("gmss", "sass"):
        save_npz(run.root / "semantic" / "gmss.npz", **synthesizer.gaussians.to_arrays())
    quota = class_quota(y_train, n_classes, int(round(g.ratio * len(y_train))), g.balanced)
    arrays = synthesizer.generate(strategy, quota, cfg.seed, progress)
    save_npz(run.synthetic(strategy), **arrays, strategy=np.array(strategy))
    log.info("wrote %s", run.synthetic(strategy))
    return arrays


def _synthetic_fp(cfg: Config, run: RunDir, strategy: str) -> str:
    condition = condition_of(strategy)
    return fingerprint(_generator_fp(cfg, run, condition), stage_fingerprint(run, "prepare"),
                       cfg.generate, cfg.sampling if strategy in ("gmss", "sass") else None,
                       strategy, cfg.seed)


def _synthetic_settings(cfg: Config, strategy: str) -> dict[str, Any]:
    sampling = cfg.sampling if strategy in ("gmss", "sass") else None
    return settings_of(seed=cfg.seed, generate=cfg.generate, sampling=sampling,
                       generator=cfg.generator, classifier=cfg.classifier)


def _current_synthetic(cfg: Config, run: RunDir, strategy: str) -> Path:
    return require_current(run, f"generate-{strategy}", _synthetic_fp(cfg, run, strategy),
                           run.synthetic(strategy), f"generate --strategy {strategy}",
                           _synthetic_settings(cfg, strategy))


def ensure_synthetic(cfg: Config, run: RunDir, device: torch.device, strategy: str,
                     progress: bool) -> None:
    """Classifier, generator and synthetic set for ``strategy``, each only if not fresh."""
    ensure_classifier(cfg, run, device, progress)
    ensure_generator(cfg, run, device, condition_of(strategy), progress)
    fp = _synthetic_fp(cfg, run, strategy)
    if not is_fresh(run, f"generate-{strategy}", fp, run.synthetic(strategy)):
        generate(cfg, run, device, strategy, progress=progress)


# --- `sasgda run` --------------------------------------------------------------------------------


def run_all(
    cfg: Config, run: RunDir, device: torch.device, data_path: str | Path | None, subject: str,
    progress: bool = True, methods: tuple[str, ...] = DEFAULT_METHODS,
) -> str:
    """Every stage for one subject with the defaults; returns (and saves) the accuracy table.

    Stages whose artifacts are fresh (same config, same inputs) are skipped, so an interrupted
    run continues where it stopped when started again with the same command.
    """
    ensure_prepared(cfg, run, data_path, subject)
    for method in methods:
        if method in SYNTHETIC_STRATEGIES:
            ensure_synthetic(cfg, run, device, method, progress)
    rows = []
    for method in methods:
        method_cfg = replace(cfg, downstream=replace(cfg.downstream, augment=method))
        out = run.downstream(cfg.downstream.backbone, method)
        if is_fresh(run, f"downstream-{cfg.downstream.backbone}-{method}",
                    _downstream_fp(method_cfg, run), out / "metrics.json"):
            metrics = load_json(out / "metrics.json")
        else:
            metrics = train_downstream(method_cfg, run, device, progress)
        rows.append(metrics)
    table = accuracy_table(rows)
    timings = run.info().get("timings_s", {})
    report = "\n".join([
        f"# sasgda run: {cfg.data.dataset}, subject {subject}, {cfg.data.protocol}", "",
        table, "", "## Stage timings (s)", "",
        *[f"- {stage}: {seconds:.1f}" for stage, seconds in timings.items()], "",
    ])
    atomic_write_text(run.root / "report.md", report)
    return table


def accuracy_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of downstream results, with the gain over ``none`` where it ran."""
    base = next((r["accuracy"] for r in rows if r["augment"] == "none"), None)
    lines = ["| backbone | augment | accuracy % | macro-F1 % | vs none |",
             "|---|---|---|---|---|"]
    for r in rows:
        gain = "" if base is None or r["augment"] == "none" else \
            f"{100 * (r['accuracy'] - base):+.1f}"
        lines.append(f"| {r['backbone']} | {r['augment']} | {100 * r['accuracy']:.1f} | "
                     f"{100 * r['macro_f1']:.1f} | {gain} |")
    return "\n".join(lines)


# --- `sasgda evaluate`: generation quality ------------------------------------------------------

EVALUATOR_SEED_OFFSET = 10_007  # the evaluator is a different network from the classifier


def train_evaluator(cfg: Config, run: RunDir, device: torch.device, progress: bool = True):
    """The fixed evaluator network (trained on real training windows, saved in ``evaluator/``).

    It is separate from the conditioning classifier (other seed, own weights) so that metrics do
    not reward windows for pleasing the very network that chose their conditions.
    """
    from sasgda.models import MODEL_CLASSES, build_classifier
    from sasgda.training import fit
    from sasgda.utils.modelio import load_model, save_model

    out = run.root / "evaluator"
    ecfg = cfg.evaluate
    fp = fingerprint(stage_fingerprint(run, "prepare"), ecfg, cfg.seed)
    if is_fresh(run, "evaluator", fp, out / "model.safetensors"):
        return load_model(out, MODEL_CLASSES, device=device).eval()
    w = load_windows(run)
    seed = cfg.seed + EVALUATOR_SEED_OFFSET
    torch.manual_seed(seed)
    model = build_classifier(ecfg.evaluator_backbone, n_chans=w["x"].shape[1],
                             n_times=w["x"].shape[2], n_classes=len(w["classes"]))
    with run.timed("train-evaluator"):
        fit(model, *split_arrays(w, "train"), *split_arrays(w, "val"), ecfg.train, device=device,
            seed=seed, progress=progress, desc="evaluator")
        save_model(model, out)
    _mark(run, "evaluator", fp)
    return model


def classifier_accuracy_score(
    cfg: Config, x_train: np.ndarray, y_train: np.ndarray, w: dict[str, np.ndarray],
    device: torch.device, progress: bool,
) -> float:
    """CAS: accuracy on the real test windows of a CNN trained on synthetic windows only."""
    from sasgda.models import build_classifier
    from sasgda.training import fit, predict_logits

    torch.manual_seed(cfg.seed)
    model = build_classifier("cnn", n_chans=w["x"].shape[1], n_times=w["x"].shape[2],
                             n_classes=len(w["classes"]))
    # Model selection on the real validation windows, as for every other classifier here.
    fit(model, x_train, y_train, *split_arrays(w, "val"), cfg.evaluate.train, device=device,
        seed=cfg.seed, progress=progress, desc="CAS")
    x_test, y_test = split_arrays(w, "test")
    return float(np.mean(predict_logits(model, x_test, device=device).argmax(1) == y_test))


def evaluate(cfg: Config, run: RunDir, device: torch.device, progress: bool = True,
             strategies: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
    """`sasgda evaluate`: FID, CAS, AvgKNN, LOF, rarity and PRDC of every synthetic set.

    Features come from the evaluator network; the real reference set is the real training
    windows. Writes ``metrics.json`` in the run directory.
    """
    from sasgda.evaluation import quality_metrics
    from sasgda.training import extract_features

    w = load_windows(run)
    found = sorted(p.stem for p in (run.root / "synthetic").glob("*.npz"))
    strategies = strategies or tuple(found)
    if not strategies:
        raise FileNotFoundError(f"{run.root / 'synthetic'}: no synthetic set; run "
                                "`sasgda generate` first")
    for strategy in strategies:  # before the evaluator trains
        if strategy not in SYNTHETIC_STRATEGIES:
            raise ValueError(f"--strategies {strategy}: expected some of "
                             f"{', '.join(SYNTHETIC_STRATEGIES)}")
    sets = {strategy: _current_synthetic(cfg, run, strategy) for strategy in strategies}
    evaluator = train_evaluator(cfg, run, device, progress)
    x_train, _ = split_arrays(w, "train")
    real = extract_features(evaluator, x_train, device=device)
    results = {}
    with run.timed("evaluate"):
        for strategy in strategies:
            syn = load_npz(sets[strategy])
            fake = extract_features(evaluator, syn["x"], device=device)
            metrics = quality_metrics(real, fake, k=cfg.evaluate.k)
            metrics["cas"] = classifier_accuracy_score(cfg, syn["x"], syn["y"], w, device,
                                                       progress)
            metrics["mean_confidence"] = float(np.mean(syn["confidence"]))
            results[strategy] = metrics
            log.info("%s: FID %.3f, CAS %.3f, AvgKNN %.3f, rarity %.3f, precision %.3f, "
                     "recall %.3f", strategy, metrics["fid"], metrics["cas"], metrics["avg_knn"],
                     metrics["rarity"], metrics["precision"], metrics["recall"])
    previous = load_json_if(run.root / "metrics.json")
    save_json(run.root / "metrics.json", {**previous, **results})
    for strategy in strategies:
        _mark(run, f"evaluate-{strategy}", stage_fingerprint(run, f"generate-{strategy}"))
    return results
