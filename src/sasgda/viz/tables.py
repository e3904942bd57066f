"""Markdown tables of results: the paper-style summary, the per-subject view, one run's table.

A *cell* is one result dict with at least ``subject``, ``method``, ``backbone``, ``seed``,
``accuracy`` and ``macro_f1`` (what :mod:`sasgda.benchmark` writes). Seeds are averaged within a
subject first, so the spread is over subjects, and the Wilcoxon test pairs subjects.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np

from sasgda.data import subject_key
from sasgda.evaluation.stats import format_mean_sd, paired_wilcoxon


def per_run(cells: Sequence[dict], method: str, backbone: str, metric: str) -> dict:
    """``{(subject, seed): metric}`` for one method and backbone."""
    return {(str(c["subject"]), int(c["seed"])): float(c[metric]) for c in cells
            if c["method"] == method and c["backbone"] == backbone}


def _subject_means(runs: dict) -> dict:
    out: dict[str, list[float]] = {}
    for (subject, _), value in runs.items():
        out.setdefault(subject, []).append(value)
    ordered = sorted(out.items(), key=lambda kv: subject_key(kv[0]))
    return {s: float(np.mean(v)) for s, v in ordered}


def per_subject(cells: Sequence[dict], method: str, backbone: str, metric: str) -> dict:
    """``{subject: mean over seeds of metric}`` for one method and backbone."""
    return _subject_means(per_run(cells, method, backbone, metric))


def _ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


# With fewer pairs, no outcome of the two-sided exact Wilcoxon test has p < 0.05 (n = 5 gives
# at least 2 / 2^5 = 0.0625): a p-value there says nothing, so none is printed.
MIN_WILCOXON_PAIRS = 6


def _bold(text: str) -> str:
    return f"**{text}**"


def summary_table(cells: Sequence[dict], methods: Sequence[str] = (),
                  backbones: Sequence[str] = ()) -> str:
    """Accuracy and macro-F1 (mean ± sd over subjects) per method and backbone, the best of each
    backbone in bold, the gain over ``none`` and a paired two-sided Wilcoxon p-value against
    ``none`` across subjects (where there are enough subjects for one to mean anything)."""
    methods = _ordered([c["method"] for c in cells], methods)
    backbones = _ordered([c["backbone"] for c in cells], backbones)
    lines = ["| backbone | method | accuracy % | macro-F1 % | vs none (points) | Wilcoxon p |"
             " subjects x seeds |", "|---|---|---|---|---|---|---|"]
    for backbone in backbones:
        means = {m: {k: np.mean(list(per_subject(cells, m, backbone, k).values()))
                     for k in ("accuracy", "macro_f1")}
                 for m in methods if per_run(cells, m, backbone, "accuracy")}
        best = {k: max(v[k] for v in means.values()) for k in ("accuracy", "macro_f1")}
        base = per_run(cells, "none", backbone, "accuracy")
        for method in methods:
            runs = per_run(cells, method, backbone, "accuracy")
            if not runs:
                continue
            acc = _subject_means(runs)
            f1 = per_subject(cells, method, backbone, "macro_f1")
            shown = {k: format_mean_sd(list(v.values())) for k, v in
                     (("accuracy", acc), ("macro_f1", f1))}
            shown = {k: _bold(v) if len(means) > 1 and means[method][k] == best[k] else v
                     for k, v in shown.items()}
            seeds = list(Counter(subject for subject, _ in runs).values())
            n_seeds = f"{min(seeds)}" if min(seeds) == max(seeds) else f"{min(seeds)}-{max(seeds)}"
            gain, p = "", ""
            # Each run against `none` of the same subject and seed, averaged within a subject.
            shared = {key: value for key, value in runs.items() if key in base}
            if method != "none" and shared:
                ours = _subject_means(shared)
                theirs = _subject_means({key: base[key] for key in shared})
                gain = f"{100 * np.mean([ours[s] - theirs[s] for s in ours]):+.1f}"
                if len(ours) < MIN_WILCOXON_PAIRS:
                    p = "n too small"
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # all differences zero: n/a
                        pv = paired_wilcoxon(list(ours.values()), list(theirs.values()))
                    p = "n/a" if np.isnan(pv) else f"{pv:.3f}"
            lines.append(f"| {backbone} | {method} | {shown['accuracy']} | {shown['macro_f1']} | "
                         f"{gain} | {p} | {len(acc)} x {n_seeds} |")
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
        means = [round(100 * np.mean([columns[m][s] for s in complete]), 1) for m in methods]
        shown = [_bold(f"{v:.1f}") if v == max(means) and len(means) > 1 else f"{v:.1f}"
                 for v in means]
        label = "mean" if len(complete) == len(subjects) else f"mean of {len(complete)} complete"
        lines.append(f"| {label} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def accuracy_table(rows: Sequence[dict]) -> str:
    """Markdown table of one run's downstream results (their ``metrics.json``), with the gain
    over ``none`` where it ran."""
    base = next((r["accuracy"] for r in rows if r["augment"] == "none"), None)
    lines = ["| backbone | augment | accuracy % | macro-F1 % | vs none |",
             "|---|---|---|---|---|"]
    for r in rows:
        gain = "" if base is None or r["augment"] == "none" else \
            f"{100 * (r['accuracy'] - base):+.1f}"
        lines.append(f"| {r['backbone']} | {r['augment']} | {100 * r['accuracy']:.1f} | "
                     f"{100 * r['macro_f1']:.1f} | {gain} |")
    return "\n".join(lines)
