"""Markdown tables from benchmark cells: the paper-style summary and the per-subject view.

A *cell* is one result dict with at least ``subject``, ``method``, ``backbone``, ``seed``,
``accuracy`` and ``macro_f1`` (what :mod:`sasgda.benchmark` writes). Seeds are averaged within a
subject first, so the spread is over subjects, and the Wilcoxon test pairs subjects.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from sasgda.benchmark import subject_key
from sasgda.evaluation.stats import format_mean_sd, paired_wilcoxon


def per_subject(cells: Sequence[dict], method: str, backbone: str, metric: str) -> dict:
    """``{subject: mean over seeds of metric}`` for one method and backbone."""
    out: dict[str, list[float]] = {}
    for c in cells:
        if c["method"] == method and c["backbone"] == backbone:
            out.setdefault(str(c["subject"]), []).append(float(c[metric]))
    ordered = sorted(out.items(), key=lambda kv: subject_key(kv[0]))
    return {s: float(np.mean(v)) for s, v in ordered}


def _ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def summary_table(cells: Sequence[dict], methods: Sequence[str] = (),
                  backbones: Sequence[str] = ()) -> str:
    """Accuracy and macro-F1 (mean ± sd over subjects) per method and backbone, the gain over
    ``none`` and a paired two-sided Wilcoxon p-value against ``none`` across subjects."""
    methods = _ordered([c["method"] for c in cells], methods)
    backbones = _ordered([c["backbone"] for c in cells], backbones)
    lines = ["| backbone | method | accuracy % | macro-F1 % | vs none (points) | Wilcoxon p |"
             " subjects x seeds |", "|---|---|---|---|---|---|---|"]
    for backbone in backbones:
        base = per_subject(cells, "none", backbone, "accuracy")
        for method in methods:
            acc = per_subject(cells, method, backbone, "accuracy")
            if not acc:
                continue
            f1 = per_subject(cells, method, backbone, "macro_f1")
            n_seeds = len({c["seed"] for c in cells
                           if c["method"] == method and c["backbone"] == backbone})
            gain, p = "", ""
            shared = [s for s in acc if s in base]
            if method != "none" and shared:
                diff = [acc[s] - base[s] for s in shared]
                gain = f"{100 * np.mean(diff):+.1f}"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # too few pairs: reported as n/a
                    pv = paired_wilcoxon([acc[s] for s in shared], [base[s] for s in shared])
                p = "n/a" if np.isnan(pv) else f"{pv:.3f}"
            lines.append(f"| {backbone} | {method} | {format_mean_sd(list(acc.values()))} | "
                         f"{format_mean_sd(list(f1.values()))} | {gain} | {p} | "
                         f"{len(acc)} x {n_seeds} |")
    return "\n".join(lines)


def subject_table(cells: Sequence[dict], backbone: str, methods: Sequence[str] = (),
                  metric: str = "accuracy") -> str:
    """One row per subject, one column per method (``metric`` in %, mean over seeds)."""
    methods = _ordered([c["method"] for c in cells if c["backbone"] == backbone], methods)
    columns = {m: per_subject(cells, m, backbone, metric) for m in methods}
    subjects = sorted({s for col in columns.values() for s in col}, key=subject_key)
    lines = ["| subject | " + " | ".join(methods) + " |",
             "|---" * (len(methods) + 1) + "|"]
    for s in subjects:
        row = [f"{100 * columns[m][s]:.1f}" if s in columns[m] else "" for m in methods]
        lines.append(f"| {s} | " + " | ".join(row) + " |")
    # Means over the subjects every column has, so that columns are comparable.
    complete = [s for s in subjects if all(s in columns[m] for m in methods)]
    if complete:
        means = [f"**{100 * np.mean([columns[m][s] for s in complete]):.1f}**" for m in methods]
        label = "mean" if len(complete) == len(subjects) else f"mean of {len(complete)} complete"
        lines.append(f"| {label} | " + " | ".join(means) + " |")
    return "\n".join(lines)
