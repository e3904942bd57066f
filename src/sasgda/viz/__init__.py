"""Figures for the report (matplotlib, Agg canvas, PNG written atomically)."""

from sasgda.viz.plots import (
    plot_accuracy_vs_ratio,
    plot_confidence_sweep,
    plot_feature_embedding,
    plot_waveforms,
)
from sasgda.viz.tables import subject_table, summary_table

__all__ = [
    "plot_accuracy_vs_ratio",
    "plot_confidence_sweep",
    "plot_feature_embedding",
    "plot_waveforms",
    "subject_table",
    "summary_table",
]
