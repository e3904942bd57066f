"""Synthetic sets: conditions from a strategy, windows from the generator, confidence filters.

One :class:`Synthesizer` holds what every strategy needs (the trained generator, the task-aware
classifier and the real training features) and makes a synthetic set for a per-class quota:

- ``real``: the real training features, each used in turn (SRG on real semantics);
- ``label``: the class labels (the label-conditioned baseline generator);
- ``gmss``: draws from the per-class Gaussians of the features (GMSS);
- ``sass``: sparse-aware conditions (:class:`~sasgda.semantic.sass.SparseAwareSampler`), whose
  condition filter keeps p(k | c) >= ``conditions.confidence``; the windows generated from them
  must also reach that confidence with the classifier, and the rest are redrawn
  (:func:`~sasgda.semantic.quota.fill_quota`) until the quota is met or the class has been
  drawn ``conditions.max_draws`` times over.

The Python API (:class:`sasgda.SASGDA`) and the run-directory pipeline both generate through it.
"""

from __future__ import annotations

import logging
from functools import cached_property

import numpy as np
import torch
from tqdm.auto import tqdm

from sasgda.config import Config
from sasgda.diffusion import sample_with_config
from sasgda.semantic.gaussians import ClassGaussians
from sasgda.semantic.quota import fill_quota
from sasgda.semantic.sass import SparseAwareSampler, rarity_scores
from sasgda.training import predict_logits

log = logging.getLogger("sasgda")

STRATEGIES = ("real", "label", "gmss", "sass")


def condition_of(strategy: str) -> str:
    """The generator a strategy samples from: ``label`` or ``semantic``."""
    return "label" if strategy == "label" else "semantic"


def class_quota(y: np.ndarray, n_classes: int, total: int, balanced: bool) -> np.ndarray:
    """``total`` windows split over the classes evenly (``balanced``) or in the proportions of
    the real labels ``y``; what the floors leave goes to the largest remainders."""
    if balanced:
        share = np.full(n_classes, total / n_classes)
    else:
        share = total * np.bincount(y, minlength=n_classes) / len(y)
    quota = np.floor(share).astype(np.int64)
    quota[np.argsort(quota - share, kind="stable")[: total - quota.sum()]] += 1
    return quota


class Synthesizer:
    """Makes synthetic sets from one trained generator and task-aware classifier.

    Parameters
    ----------
    generator : ConditionalUNet1D
        Semantic (feature-conditioned) for ``real`` / ``gmss`` / ``sass``, label-conditioned for
        ``label``; in eval mode.
    classifier : torch.nn.Module
        The task-aware classifier (``head`` maps features to logits), in eval mode.
    features : ndarray, shape (N, D)
        The classifier's features of the real training windows.
    y : ndarray, shape (N,)
        Their class indices.
    n_classes : int
    n_times : int
        Window length.
    cfg : Config
        Uses ``generate`` (the sampler), ``sampling`` (GMSS and SASS) and ``generator`` (the
        noise schedule the generator was trained with).
    device : torch.device
    """

    def __init__(self, generator, classifier, features: np.ndarray, y: np.ndarray,
                 n_classes: int, n_times: int, cfg: Config, device: torch.device):
        self.generator = generator
        self.classifier = classifier
        self.features = features
        self.y = y
        self.n_classes = n_classes
        self.n_times = n_times
        self.cfg = cfg
        self.device = device

    @cached_property
    def gaussians(self) -> ClassGaussians:
        return ClassGaussians().fit(self.features, self.y)

    def confidence(self, x: np.ndarray, k: int) -> np.ndarray:
        """The classifier's p(k | x) for each window of ``x``."""
        logits = predict_logits(self.classifier, x, device=self.device)
        return torch.softmax(torch.from_numpy(logits), 1)[:, k].numpy()

    def windows(self, cond: np.ndarray, torch_gen: torch.Generator) -> np.ndarray:
        if len(cond) == 0:
            return np.empty((0, self.generator.n_chans, self.n_times), np.float32)
        return sample_with_config(self.generator, cond, n_times=self.n_times, cfg=self.cfg,
                                  generator=torch_gen, device=self.device, progress=False)

    def generate(self, strategy: str, quota: np.ndarray, seed: int,
                 progress: bool = True) -> dict[str, np.ndarray]:
        """A synthetic set with ``quota[k]`` windows of class k.

        Returns ``x`` (n, C, L) float32, ``y``, ``cond``, ``rarity`` (of each condition among
        the real features of its class; NaN off every real k-NN ball and for ``label``) and
        ``confidence`` (the classifier's p(k | x)).
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
        s = self.cfg.conditions
        rng = np.random.default_rng(seed)
        torch_gen = torch.Generator().manual_seed(seed)
        sampler = None
        if strategy == "sass":
            sampler = SparseAwareSampler(self.gaussians, self.features, self.y,
                                         self.classifier.head, s, device=self.device)
        parts = []
        bar = tqdm(total=self.n_classes, desc=f"generate {strategy}", unit="class",
                   disable=not progress)
        for k in range(self.n_classes):
            m = int(quota[k])
            real_k = self.features[self.y == k]
            if strategy == "sass":
                def draw(n: int, k: int = k) -> dict[str, np.ndarray]:
                    found = sampler.sample(k, n, rng)
                    x = self.windows(found["cond"], torch_gen)
                    return {"x": x, "cond": found["cond"], "confidence": self.confidence(x, k)}

                # A class that falls short is reported once, by fill_quota's warning.
                batch, _ = fill_quota(draw, lambda b: b["confidence"] >= s.confidence, m,
                                      max_rounds=s.max_rounds, max_draws=s.max_draws,
                                      desc=f"class {k}")
            elif m > 0:
                if strategy == "real":
                    cond = real_k[rng.permutation(np.resize(np.arange(len(real_k)), m))]
                elif strategy == "label":
                    cond = np.full(m, k, dtype=np.int64)
                else:
                    cond = self.gaussians.sample(m, k, rng, scale=s.gmss_scale)
                x = self.windows(cond, torch_gen)
                batch = {"x": x, "cond": cond, "confidence": self.confidence(x, k)}
            else:
                batch = {}
            bar.update()
            if not batch or len(batch["x"]) == 0:
                continue
            if strategy == "label":
                rarity = np.full(len(batch["x"]), np.nan, np.float32)
            else:
                rarity = rarity_scores(batch["cond"], real_k, k=s.k)
            parts.append({**batch, "y": np.full(len(batch["x"]), k, np.int64),
                          "rarity": rarity.astype(np.float32)})
        bar.close()
        # A set without some class is no augmentation of that class: the downstream model would
        # get the other classes' windows in its place (select_synthetic repeats them).
        made = {int(p["y"][0]) for p in parts}
        empty = [k for k in range(self.n_classes) if quota[k] > 0 and k not in made]
        if empty:
            which = "any class" if len(empty) == self.n_classes else f"classes {empty}"
            raise ValueError(f"{strategy}: no generated window of {which} reached confidence "
                             f"{s.confidence:g} in {s.max_rounds} rounds and {s.max_draws:g} "
                             "times the quota drawn; train the generator longer or lower "
                             "conditions.confidence")
        arrays = {key: np.concatenate([p[key] for p in parts]) for key in
                  ("x", "y", "cond", "rarity", "confidence")}
        arrays["x"] = arrays["x"].astype(np.float32)
        inside = np.isfinite(arrays["rarity"])
        log.info("%s: %d synthetic windows, mean confidence %.3f, %.0f %% inside the real k-NN "
                 "balls", strategy, len(arrays["x"]), float(np.mean(arrays["confidence"])),
                 100 * inside.mean())
        return arrays
