"""Data: loaders returning `Recording`s, the dataset registry, preprocessing and windowing."""

from sasgda.data.prepare import (
    list_subjects,
    load_subject,
    parse_subjects,
    prepare_windows,
    subject_key,
    summarize_windows,
)
from sasgda.data.recording import Recording
from sasgda.data.registry import DATASETS, DatasetInfo, describe_datasets, get_dataset

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "Recording",
    "describe_datasets",
    "get_dataset",
    "list_subjects",
    "load_subject",
    "parse_subjects",
    "prepare_windows",
    "subject_key",
    "summarize_windows",
]
