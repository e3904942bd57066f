"""The Python API: fit an augmenter on your windows, sample synthetic ones, save and load it.

    from sasgda import SASGDA, load_dataset
    d = load_dataset("myoup", "../shared/data/myoup-ninapro", subject="3")
    aug = SASGDA(strategy="gmss", seed=0).fit(d["x_train"], d["y_train"])
    x_syn, y_syn = aug.sample(n=2 * len(d["x_train"]))

``fit`` runs the stages of `sasgda run` up to the synthetic set, through the same functions: the
task-aware classifier (:func:`sasgda.training.fit_task_classifier`), its features, the generator
(:func:`sasgda.diffusion.fit_generator`); ``sample`` makes the set with the same
:class:`sasgda.semantic.Synthesizer` as `sasgda generate`. Settings are the YAML config's
nested keys (``config={"generator": {"steps": 3000}}``), with the same defaults and checks.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from sasgda.config import Config, build_config, replace, to_dict
from sasgda.diffusion import fit_generator, load_generator
from sasgda.models import MODEL_CLASSES
from sasgda.semantic import STRATEGIES, Synthesizer, class_quota, condition_of
from sasgda.training import extract_features, fit_task_classifier
from sasgda.utils.device import resolve_device
from sasgda.utils.io import save_json
from sasgda.utils.modelio import load_model, save_model

FORMAT = "sasgda-augmenter"
FORMAT_VERSION = 1


def load_dataset(name: str, path: str | Path | None = None, subject: str | int = "1",
                 **data: Any) -> dict[str, np.ndarray]:
    """One subject's windows, split and normalised as `sasgda prepare` makes them.

    Parameters
    ----------
    name : str
        A dataset of `sasgda datasets` (``myoup``, ``db2``, ``npz``, ``simulated``, ...).
    path : str or Path, optional
        Where its files are (none for ``simulated``).
    subject : str or int
    **data
        Settings of the config's ``data`` section: ``protocol``, ``window_ms``, ``step_ms``,
        ``test_repetitions``, ``val_fraction``, ...

    Returns
    -------
    dict
        ``x_train``, ``y_train``, ``x_val``, ``y_val``, ``x_test``, ``y_test`` (windows
        (N, C, L) float32 z-scored with the training windows' per-channel statistics, class
        indices from 0), ``classes`` (the dataset's gesture ids in class-index order),
        ``fs_hz``, ``norm_mean`` and ``norm_std``.
    """
    from sasgda.data import prepare_windows

    cfg = build_config(base={"data": {**data, "dataset": name}})
    arrays = prepare_windows(cfg.data, path, subject)
    out = {key: arrays[key] for key in ("classes", "fs_hz", "norm_mean", "norm_std")}
    for split in ("train", "val", "test"):
        mask = arrays["split"] == split
        out[f"x_{split}"], out[f"y_{split}"] = arrays["x"][mask], arrays["y"][mask]
    return out


def _check_windows(x, y, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name}: expected windows of shape (N, n_chans, n_times), got "
                         f"{x.shape} {x.dtype}")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: expected one integer label per window, got labels of shape "
                         f"{y.shape} {y.dtype} for {len(x)} windows")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: windows contain NaN or infinite values")
    return x.astype(np.float32, copy=False), y


def check_names(cfg: Config) -> None:
    """Raise a one-line ValueError for a name in ``cfg`` that no registry knows (dataset,
    protocol, backbones, augmentation, solver, ...) or a generator the settings cannot build.

    The config's numbers are checked when it is built (:func:`sasgda.config.check_config`);
    this checks the rest up front, so that ``sasgda run`` with a misspelt downstream backbone
    fails at once, not after the classifier and the generator have trained.
    """
    from sasgda.augment import downstream_methods
    from sasgda.data import get_dataset
    from sasgda.data.prepare import PROTOCOLS
    from sasgda.diffusion import CONDITIONS, PARAMETERIZATIONS, SOLVERS, build_generator
    from sasgda.diffusion.schedulers import TIMESTEP_SPACINGS, make_noise_scheduler
    from sasgda.models import BACKBONES
    from sasgda.models.unet1d import PAD_MODES
    from sasgda.semantic.sass import SASS_CANDIDATES
    from sasgda.training.trainer import SCHEDULES
    from sasgda.utils.device import PRECISIONS

    info = get_dataset(cfg.data.dataset)
    names = [
        ("precision", cfg.precision, PRECISIONS),
        ("data.protocol", cfg.data.protocol, PROTOCOLS),
        ("classifier.backbone", cfg.classifier.backbone, BACKBONES),
        ("generator.condition", cfg.generator.condition, CONDITIONS),
        ("generator.parameterization", cfg.generator.parameterization, PARAMETERIZATIONS),
        ("sampler.solver", cfg.sampler.solver, SOLVERS),
        ("downstream.backbone", cfg.downstream.backbone, BACKBONES),
        ("downstream.augment", cfg.downstream.augment, downstream_methods()),
        ("evaluate.evaluator_backbone", cfg.evaluate.evaluator_backbone, BACKBONES),
        ("generator.pad_mode", cfg.generator.pad_mode, PAD_MODES),
        ("sampler.timestep_spacing", cfg.sampler.timestep_spacing, TIMESTEP_SPACINGS),
        ("conditions.candidates", cfg.conditions.candidates, SASS_CANDIDATES),
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
    if cfg.sampler.eta != 0 and cfg.sampler.solver != "ddim":
        raise ValueError(f"sampler.eta={cfg.sampler.eta:g}: only the ddim solver has eta; use "
                         f"eta=0 with {cfg.sampler.solver!r}")
    if cfg.sampler.guidance_scale != 1 and cfg.generator.cond_dropout == 0:
        raise ValueError(f"sampler.guidance_scale={cfg.sampler.guidance_scale:g}: a generator "
                         "trained with generator.cond_dropout=0, so its null condition, which "
                         "guidance needs, never learns anything; use guidance_scale=1 or "
                         "condition dropout")
    make_noise_scheduler(cfg.generator)  # an unknown beta_schedule
    try:  # widths that the attention heads do not divide, say
        build_generator(cfg.generator, n_chans=1, cond_dim=cfg.classifier.feat_dim, n_classes=2)
    except ValueError as err:
        raise ValueError(f"generator.{err}") from None


class SASGDA:
    """Semantic-guided diffusion augmentation of sEMG windows.

    Parameters
    ----------
    strategy : {"gmss", "sass", "real", "label"}
        Where the generator's conditions come from (see :mod:`sasgda.semantic.synthesis`);
        GMSS and SASS measured the same on MyoUP, GMSS is the cheaper.
    seed : int
        Seeds the classifier, the generator and the sampling: the same seed and data give the
        same windows.
    device : {"auto", "cpu", "cuda"}
    config : dict, optional
        Settings by the YAML config's nested keys, e.g. ``{"generator": {"steps": 3000}}`` or
        ``{"precision": "bf16"}``.
    progress : bool
        Show progress bars while fitting and sampling.

    Attributes (after ``fit``)
    --------------------------
    classes_ : ndarray
        The labels of ``y`` in class-index order; ``sample`` returns labels from it.
    classifier_, generator_ : torch.nn.Module
        The task-aware classifier and the generator (its EMA weights).
    """

    def __init__(self, strategy: str = "gmss", seed: int = 0, device: str = "auto",
                 config: dict[str, Any] | None = None, progress: bool = True):

        if strategy not in STRATEGIES:
            raise ValueError(f"strategy={strategy!r}: expected one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.config: Config = build_config(base=config or {},
                                           top={"seed": seed, "device": device})
        check_names(self.config)
        self.device = resolve_device(device)
        self.progress = progress
        self._synthesizer: Synthesizer | None = None

    @property
    def seed(self) -> int:
        return self.config.seed

    def fit(self, x, y, x_val=None, y_val=None) -> SASGDA:
        """Train the task-aware classifier and the generator on windows ``x`` (N, C, L) with
        integer labels ``y``; ``x_val`` / ``y_val`` (optional) select the classifier's epoch.

        The windows are z-scored per channel with their own statistics for training, and
        ``sample`` returns windows in the scale of ``x``.
        """
        x, y = _check_windows(x, y, "x / y")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y: {len(self.classes_)} class; need at least 2 to fit")
        self.mean_ = x.mean(axis=(0, 2), keepdims=True)[0]
        std = x.std(axis=(0, 2), keepdims=True)[0]
        self.std_ = np.where(std > 0, std, 1.0).astype(np.float32)
        val = (None, None)
        if x_val is not None:
            x_val, y_val = _check_windows(x_val, y_val, "x_val / y_val")
            unknown = np.setdiff1d(y_val, self.classes_)
            if len(unknown):
                raise ValueError(f"y_val: labels {unknown.tolist()} are not in y")
            val = (self._scaled(x_val), np.searchsorted(self.classes_, y_val))
        x = self._scaled(x)
        cfg, n_classes = self.config, len(self.classes_)
        classifier, _ = fit_task_classifier(cfg.classifier, x, y_index, *val, n_classes,
                                            seed=cfg.seed, device=self.device,
                                            progress=self.progress, precision=cfg.precision)
        features = extract_features(classifier, x, device=self.device)
        condition = condition_of(self.strategy)
        cond = features if condition == "semantic" else y_index
        generator = fit_generator(replace(cfg.generator, condition=condition), x, cond,
                                  n_classes=n_classes, cond_dim=cfg.classifier.feat_dim,
                                  seed=cfg.seed, device=self.device, progress=self.progress,
                                  precision=cfg.precision, compile=cfg.compile)
        self._synthesizer = Synthesizer(generator, classifier.eval(), features, y_index,
                                        n_classes, x.shape[2], cfg, self.device)
        return self

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean_) / self.std_).astype(np.float32)

    @property
    def classifier_(self) -> torch.nn.Module:
        return self._fitted().classifier

    @property
    def generator_(self) -> torch.nn.Module:
        return self._fitted().generator

    def _fitted(self) -> Synthesizer:
        if self._synthesizer is None:
            raise RuntimeError("this SASGDA is not fitted yet; call fit(x, y) or SASGDA.load()")
        return self._synthesizer

    def sample(self, n: int | None = None, balanced: bool | None = None,
               seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` synthetic windows and their labels.

        Parameters
        ----------
        n : int, optional
            Default: ``sampler.ratio`` (2) windows per training window.
        balanced : bool, optional
            The same number per class, or (False, the default of ``sampler.balanced``) the
            training set's class proportions.
        seed : int, optional
            Default: the augmenter's seed, so that the same call gives the same windows; pass
            another for another draw.

        Returns
        -------
        x : ndarray, shape (n, C, L), float32, in the scale of the windows given to ``fit``
        y : ndarray, shape (n,), labels from ``classes_``
            ``sass`` may return fewer than ``n`` windows when too few reach the classifier's
            confidence (a warning says so).
        """
        synthesizer = self._fitted()
        g = self.config.sampler
        n = int(round(g.ratio * len(synthesizer.y))) if n is None else int(n)
        if n < 1:
            raise ValueError(f"n={n}: expected at least 1 window")
        quota = class_quota(synthesizer.y, synthesizer.n_classes, n,
                            g.balanced if balanced is None else balanced)
        arrays = synthesizer.generate(self.strategy, quota, self.seed if seed is None else seed,
                                      self.progress)
        x = arrays["x"] * self.std_ + self.mean_
        return x.astype(np.float32), self.classes_[arrays["y"]]

    # --- save and load: safetensors and JSON, no pickle ----------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the fitted augmenter to ``directory`` (created; a previous augmenter there is
        replaced, any other non-empty folder is an error). Written to a temporary folder first,
        so that an interrupted save leaves the previous contents as they were."""
        synthesizer = self._fitted()
        directory = Path(directory)
        if directory.exists() and any(directory.iterdir()) and \
                not (directory / "augmenter.json").is_file():
            raise FileExistsError(f"{directory}: not empty and holds no saved augmenter; "
                                  "choose a new folder")
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            save_model(synthesizer.classifier, tmp / "classifier")
            save_model(synthesizer.generator, tmp / "generator", name="ema")
            save_file({"features": synthesizer.features, "y": synthesizer.y,
                       "mean": self.mean_, "std": self.std_}, str(tmp / "arrays.safetensors"))
            save_json(tmp / "augmenter.json", {
                "format": FORMAT, "version": FORMAT_VERSION, "strategy": self.strategy,
                "classes": self.classes_.tolist(), "n_times": synthesizer.n_times,
                "config": to_dict(self.config)})
            if directory.exists():
                shutil.rmtree(directory)
            tmp.rename(directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto",
             progress: bool = True) -> SASGDA:
        """An augmenter saved by :meth:`save`, ready to ``sample``."""
        directory = Path(directory)
        meta_path = directory / "augmenter.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: not found; is {directory} a folder written "
                                    "by SASGDA.save()?")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{meta_path}: not valid JSON ({err})") from None
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: not a {FORMAT} version {FORMAT_VERSION} file")
        config = meta["config"]
        aug = cls(strategy=meta["strategy"], seed=config["seed"], device=device,
                  config={k: v for k, v in config.items() if k not in ("seed", "device")},
                  progress=progress)
        try:
            arrays = load_file(str(directory / "arrays.safetensors"))
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise ValueError(f"{directory / 'arrays.safetensors'}: unreadable ({err})") from None
        aug.classes_ = np.asarray(meta["classes"])
        aug.mean_, aug.std_ = arrays["mean"], arrays["std"]
        classifier = load_model(directory / "classifier", MODEL_CLASSES,
                                device=aug.device).eval()
        generator = load_generator(directory / "generator", device=aug.device)
        aug._synthesizer = Synthesizer(generator, classifier, arrays["features"], arrays["y"],
                                       len(aug.classes_), int(meta["n_times"]), aug.config,
                                       aug.device)
        return aug

