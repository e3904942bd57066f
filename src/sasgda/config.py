"""Typed configuration: one frozen dataclass per stage, loaded from YAML, overridden by ``--set``.

Every constant of the method lives here with its default and a comment saying what it does;
the resolved config is saved as ``config.yaml`` in the run directory. Unknown keys are errors,
so a typo in a YAML file or a ``--set`` never silently does nothing, and every number is checked
against its valid range (:data:`VALID`) when the config is built, so that a bad setting of a
late stage fails at once instead of after the stages before it have run.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("sasgda")


@dataclass(frozen=True)
class DataConfig:
    """Loading, preprocessing, windowing and the train/val/test protocol (design.md section 3)."""

    dataset: str = "simulated"  # a name from `sasgda datasets`
    protocol: str = "intra-subject"  # intra-subject | cross-session | cross-subject
    window_ms: float = 200.0  # window length
    step_ms: float = 50.0  # hop between consecutive windows
    include_rest: bool = False  # keep rest (label 0) windows as a class
    bandpass_hz: tuple[float, ...] | None = None  # (low, high); None = dataset default, () = off
    notch_hz: float | None = None  # mains notch; None = dataset default, 0 = off
    # Tail of each training segment held out for early stopping. 0: every training window
    # trains the classifier, the generator and the downstream models, on fixed schedules.
    val_fraction: float = 0.0
    test_repetitions: tuple[int, ...] | None = None  # None = dataset default (NinaPro: 2, 5)
    test_sessions: tuple[str, ...] | None = None  # cross-session; None = dataset default
    # The built-in simulated dataset (used when dataset = simulated).
    sim_subjects: int = 4
    sim_chans: int = 8
    sim_fs_hz: float = 200.0
    sim_gestures: int = 8
    sim_repetitions: int = 6
    sim_rep_seconds: float = 4.0


@dataclass(frozen=True)
class TrainerConfig:
    """The one supervised trainer, shared by the task-aware classifier and downstream models."""

    epochs: int = 25
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    patience: int = 12  # early stopping (with validation data): epochs without a better accuracy
    warmup_epochs: int = 2  # linear warm-up, then cosine decay to zero (schedule = cosine)
    grad_clip: float = 1.0
    # cosine: linear warm-up to lr, cosine to zero. onecycle: torch's OneCycleLR peaking at
    # max_lr_factor x lr (warm-up over 30 % of the steps, momentum cycled).
    schedule: str = "onecycle"
    max_lr_factor: float = 2.0  # onecycle only


@dataclass(frozen=True)
class ClassifierConfig:
    """The task-aware classifier whose penultimate features condition the generator."""

    backbone: str = "cnn"
    feat_dim: int = 128  # D, the semantic feature size
    dropout: float = 0.3
    train: TrainerConfig = field(default_factory=TrainerConfig)


@dataclass(frozen=True)
class GeneratorConfig:
    """SRG: the conditional 1D diffusion model and its training (design.md section 4)."""

    condition: str = "semantic"  # semantic | label
    # Width of the first level and the width multipliers of the levels; each level after the
    # first halves the time axis. 64 and (1, 2, 2, 2) (2.0 M parameters) is about the reference
    # prototype's size (bench/results/reference-gap.md); 32 and (1, 2, 4) is 0.9 M.
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 2)
    # How the U-Net pads a window to a multiple of 2 ** (levels - 1) samples: zeros | reflect
    # (40 samples become 48 with the window's own end, not a step to zero).
    pad_mode: str = "reflect"
    # Samples folded into channels before the U-Net (models/unet1d.py): the network runs on
    # 1/patch as many steps, and 12 x 400 windows train and sample about 3x faster at 4. At
    # 200 Hz folding costs quality (MyoUP, 2: FID 2.0 against 1.0), hence 1. On a simulated
    # 2 kHz subject, 4 made windows that cost the CNN 8.6 points, cause not yet separated
    # (bench/results/README.md, "The DB2-shaped subject end to end at patch 4").
    patch: int = 1
    n_cond_tokens: int = 4  # the feature is projected to this many cross-attention tokens
    n_heads: int = 4
    cond_dropout: float = 0.1  # probability of replacing the condition with the learned null
    num_train_timesteps: int = 1000  # T
    beta_schedule: str = "squaredcos_cap_v2"  # cosine schedule
    # Weight of the L1 on the real and imaginary parts of the orthonormal FFT; 0.2 is the
    # reference prototype's sqrt(L) / 5 on a forward-normalised FFT.
    lambda_fourier: float = 0.2
    # How the network's output becomes x0: "direct" (it is x0) or "skip" (x0 = sqrt(abar) x_t -
    # sqrt(1 - abar) output, the x0 of v-prediction); see sasgda.diffusion.parameterization.
    # On MyoUP subject 3, "skip" kept more of the real amplitude (RMS 0.82 of real against 0.74)
    # and recall (0.97 / 0.92), but lost precision (0.39 / 0.71) and FID (2.77 / 2.57), and
    # downstream accuracy was the same within noise (README, "What we tried").
    parameterization: str = "direct"
    steps: int = 3000  # optimiser steps
    batch_size: int = 128
    lr: float = 2e-4
    weight_decay: float = 0.0
    # 0.995 averages about the last 200 steps: with 3,000 steps, 0.999 still carried a third of
    # the weights of the first 2,000.
    ema_decay: float = 0.995
    ema_warmup: bool = False  # decay min(ema_decay, (1 + n) / (10 + n)) after n updates (diffusers)
    checkpoint_every: int = 500  # steps between resumable checkpoints


@dataclass(frozen=True)
class SamplerConfig:
    """The sampler that turns conditions into synthetic windows, and how many it makes."""

    ratio: float = 2.0  # synthetic windows per real training window
    # UniPC at 15 steps gave the downstream models what DPM-Solver++ at 25 gave (MyoUP, 8
    # subjects; myo-readings, 5 participants), with FID and amplitude at least those of DDIM at
    # 50, at 0.6 of the network evaluations (bench/results/README.md, "Sampler").
    steps: int = 15  # sampler steps
    solver: str = "unipc"  # unipc | dpm (multistep DPM-Solver++) | ddim
    # Where the sampler's steps fall (diffusers' names): trailing starts at T - 1 and ends one
    # stride above 0; linspace runs from T - 1 down to 0, so its last x0 comes from t = 0.
    timestep_spacing: str = "linspace"
    eta: float = 0.0  # DDIM stochasticity
    guidance_scale: float = 1.0  # classifier-free guidance; 1.0 = off
    batch_size: int = 256
    balanced: bool = False  # True: the same number of windows for every class; False: the real
    # class proportions, so the augmented set keeps the real set's class balance


@dataclass(frozen=True)
class ConditionsConfig:
    """Where GMSS and SASS draw the conditions, and the confidence filter on them (design.md
    section 5)."""

    gmss_scale: float = 1.0  # scales the Gaussian's spread when drawing conditions
    # SASS candidates: "neighbours" (between two neighbouring real features, anchors drawn in
    # proportion to their k-NN radius) or "gaussian" (the rarest of oversampled GMSS draws).
    # Neighbours measured best on MyoUP subjects 3 and 5 (bench/results/reference-gap.md).
    candidates: str = "neighbours"
    oversample: int = 4  # SASS draws this many candidates per condition it keeps
    k: int = 5  # neighbours for the rarity balls and the sparsity potential
    iters: int = 20  # gradient refinement steps
    epsilon: float = 0.05  # refinement step, in units of the class median k-NN radius
    lambda_s: float = 1.0  # sparsity potential weight
    lambda_d: float = 1.0  # diversity potential weight
    lambda_f: float = 1.0  # fidelity potential weight
    bandwidth: float = 1.0  # h of the diversity kernel, in units of the class median k-NN radius
    chi2_quantile: float = 0.99  # q: the fidelity potential starts beyond this Mahalanobis radius
    confidence: float = 0.15  # minimum classifier probability of the intended class
    max_rounds: int = 5  # redraw rounds to fill the quota after confidence filtering
    max_draws: float = 4.0  # windows generated per class in all, at most this times its quota


@dataclass(frozen=True)
class DownstreamConfig:
    """Downstream classifiers trained on real (+ synthetic) windows."""

    backbone: str = "cnn"  # cnn | crossformer | tdct | stcnet
    augment: str = "none"  # none | a classic augmentation | real | label | gmss | sass
    synthetic_ratio: float = 2.0  # extra windows per real training window
    # Epochs when synthetic or augmented windows are added (0 = train.epochs): the augmented set
    # is 1 + synthetic_ratio times larger, so the same epochs would mean that many more steps.
    augmented_epochs: int = 12
    train: TrainerConfig = field(default_factory=TrainerConfig)


@dataclass(frozen=True)
class EvaluateConfig:
    """Generation-quality metrics with a fixed evaluator network (design.md section 6)."""

    k: int = 5  # neighbours for AvgKNN, rarity and PRDC
    evaluator_backbone: str = "cnn"
    # The evaluator network and the CAS model: 12 epochs over the synthetic set (twice the real
    # training windows) cost about one augmented downstream model (12 epochs over three times).
    train: TrainerConfig = field(default_factory=lambda: TrainerConfig(epochs=12))


@dataclass(frozen=True)
class Config:
    """Everything a run needs; saved resolved as ``config.yaml`` in the run directory."""

    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    # Forward passes of every model: auto (bf16 on CUDA, fp16 with a loss scaler where the GPU
    # lacks bf16, fp32 on a CPU) | fp32 | bf16 | fp16. Like the device, it is not part of a
    # stage's settings.
    precision: str = "auto"
    compile: bool = False  # torch.compile the generator for training and sampling
    data: DataConfig = field(default_factory=DataConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    conditions: ConditionsConfig = field(default_factory=ConditionsConfig)
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


# --- valid ranges --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """The finite numbers from ``low`` to ``high``; an open end leaves its bound out."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def __call__(self, value: float) -> bool:
        return (
            math.isfinite(value)
            and (value > self.low if self.low_open else value >= self.low)
            and (value < self.high if self.high_open else value <= self.high)
        )

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return (f"a value in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}")


@dataclass(frozen=True)
class Each:
    """A non-empty list whose every item is in ``item``."""

    item: Range

    def __call__(self, values: tuple) -> bool:
        return len(values) > 0 and all(self.item(v) for v in values)

    def __str__(self) -> str:
        return f"a non-empty list of values {self.item}"


POSITIVE = Range(0, low_open=True)
AT_LEAST_0 = Range(0)
AT_LEAST_1 = Range(1)
PROBABILITY = Range(0, 1, high_open=True)  # a rate that must leave something: [0, 1)

# Valid values of every numeric setting, by config class. Names (datasets, backbones, solvers)
# are checked by :func:`sasgda.api.check_names`, next to the registries that know them.
VALID: dict[type, dict[str, Callable[[Any], bool]]] = {
    Config: {"seed": AT_LEAST_0},
    DataConfig: {
        "window_ms": POSITIVE, "step_ms": POSITIVE, "notch_hz": AT_LEAST_0,
        "val_fraction": PROBABILITY, "test_repetitions": Each(AT_LEAST_1),
        "sim_subjects": AT_LEAST_1, "sim_chans": Range(2), "sim_fs_hz": POSITIVE,
        "sim_gestures": AT_LEAST_1, "sim_repetitions": Range(2), "sim_rep_seconds": POSITIVE,
    },
    TrainerConfig: {
        "epochs": AT_LEAST_1, "batch_size": AT_LEAST_1, "lr": POSITIVE,
        "weight_decay": AT_LEAST_0, "label_smoothing": PROBABILITY, "patience": AT_LEAST_0,
        "warmup_epochs": AT_LEAST_0, "grad_clip": AT_LEAST_0, "max_lr_factor": POSITIVE,
    },
    ClassifierConfig: {"feat_dim": AT_LEAST_1, "dropout": PROBABILITY},
    GeneratorConfig: {
        "base_channels": Range(2), "channel_mults": Each(AT_LEAST_1), "patch": AT_LEAST_1,
        "n_cond_tokens": AT_LEAST_1, "n_heads": AT_LEAST_1, "cond_dropout": PROBABILITY,
        "num_train_timesteps": Range(2), "lambda_fourier": AT_LEAST_0, "steps": AT_LEAST_1,
        "batch_size": AT_LEAST_1, "lr": POSITIVE, "weight_decay": AT_LEAST_0,
        "ema_decay": PROBABILITY, "checkpoint_every": AT_LEAST_1,
    },
    # A ratio of 0 would write an empty synthetic set, or train on real windows alone under an
    # augmentation's name, without any error.
    SamplerConfig: {
        "ratio": POSITIVE, "steps": AT_LEAST_1, "eta": Range(0, 1), "guidance_scale": AT_LEAST_0,
        "batch_size": AT_LEAST_1,
    },
    ConditionsConfig: {
        "gmss_scale": AT_LEAST_0, "oversample": AT_LEAST_1, "k": AT_LEAST_1, "iters": AT_LEAST_0,
        "epsilon": AT_LEAST_0, "lambda_s": AT_LEAST_0, "lambda_d": AT_LEAST_0,
        "lambda_f": AT_LEAST_0, "bandwidth": POSITIVE, "chi2_quantile": Range(0, 1, True, True),
        "confidence": Range(0, 1), "max_rounds": AT_LEAST_1, "max_draws": AT_LEAST_1,
    },
    DownstreamConfig: {"synthetic_ratio": POSITIVE, "augmented_epochs": AT_LEAST_0},
    EvaluateConfig: {"k": AT_LEAST_1},
}


def check_config(cfg: Any, where: str = "") -> None:
    """Raise a ValueError naming the first setting of ``cfg`` (and of its sections) outside its
    valid range, as ``where.key=value: expected ...``.

    Parameters
    ----------
    cfg : a config dataclass
        A whole :class:`Config` or one section of it.
    where : str
        The section's path in the config (``"generator"``, ``"downstream.train"``); "" for the
        whole config.
    """
    valid = VALID.get(type(cfg), {})
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        name = f"{where}.{f.name}" if where else f.name
        if dataclasses.is_dataclass(value):
            check_config(value, name)
        elif f.name in valid and value is not None and not valid[f.name](value):
            shown = list(value) if isinstance(value, tuple) else value
            raise ValueError(f"{name}={shown!r}: expected {valid[f.name]}")


# --- building dataclasses from plain dicts -------------------------------------------------------


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field's type annotation, converting lists to tuples."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):
            # PyYAML follows YAML 1.1, which reads an exponent without a dot (1e-3) as a string.
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


# Former names of sections: config files, run folders and benchmark folders written with them
# still load, read under the present names.
RENAMED = {"generate": "sampler", "sampling": "conditions"}
_SAID: set[str] = set()


def upgrade(values: dict[str, Any], say: bool = True) -> dict[str, Any]:
    """``values`` with the former section names of :data:`RENAMED` replaced by the present
    ones: top-level keys of a nested config, or the heads of flat ``section.key`` settings.
    ``say``: log each former name once per process (a config a user wrote)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        head, dot, rest = key.partition(".")
        if head in RENAMED:
            new = RENAMED[head] + dot + rest
            if new in values:
                raise ValueError(f"config: both {key!r} and {new!r}; {head!r} is the former "
                                 f"name of {RENAMED[head]!r}, give only that")
            if say and head not in _SAID:
                _SAID.add(head)
                log.warning("config: section %r is now called %r; read as such", head,
                            RENAMED[head])
            key = new
        out[key] = value
    return out


def changed_setting(old: dict, new: dict, ignore: Sequence[str] = (),
                    where: str = "") -> str | None:
    """The first setting (``section.key=old value``) that differs between two nested configs,
    read under the present section names; a setting or section in ``ignore`` is not compared."""
    if not where:
        old, new = upgrade(old, say=False), upgrade(new, say=False)
    for key in sorted(set(old) | set(new)):
        name = f"{where}.{key}" if where else key
        a, b = old.get(key), new.get(key)
        if name in ignore or a == b:
            continue
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return f"{name}={a!r} (now {b!r})"
        if found := changed_setting(a, b, ignore, name):
            return found
    return None


def from_dict(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a nested dict; unknown keys are an error naming the key."""
    if cls is Config:
        values = upgrade(values)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r} (valid keys: {', '.join(sorted(names))})"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass as a nested dict of YAML-friendly values (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(cfg)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``section.key=value`` into a nested dict; the value is parsed as YAML."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected section.key=value")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ValueError(f"--set {text!r}: empty key")
    try:
        value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ValueError(f"--set {text!r}: value is not valid YAML ({_yaml_problem(err)})") \
            from None
    nested: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        nested = {key: nested}
    return nested


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's error in one line (its own message spans several): the problem and its line."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    return f"{problem}, line {mark.line + 1}" if mark is not None else problem


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: plain
    YAML keeps the last one, which drops a whole section without a word."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise yaml.constructor.ConstructorError(
                    problem=f"{key!r} is given twice", problem_mark=node.value[i][0].start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (empty file = empty dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        values = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({_yaml_problem(err)})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of sections at the top level")
    return values


def build_config(
    files: list[str | Path] = (),
    overrides: list[str] = (),
    base: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
) -> Config:
    """Resolve a :class:`Config` from a base dict, YAML files (in order), ``--set`` strings and
    ``top`` (a command's own flags, which win)."""
    values: dict[str, Any] = upgrade(base or {})
    for path in files:
        values = merge(values, upgrade(load_yaml(path)))
    for text in overrides:
        values = merge(values, upgrade(parse_override(text)))
    cfg = from_dict(Config, merge(values, upgrade(top or {})))
    check_config(cfg)
    return cfg


def dump_yaml(cfg: Any) -> str:
    """The config as YAML text (what the run directory keeps as ``config.yaml``)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for frozen configs."""
    return dataclasses.replace(cfg, **changes)
