"""Load and split datasets for the CLI's ``split`` verb and the other pipelines.

:func:`find_dataset` resolves a ``--data`` path (a dataset folder, or a root of several datasets
with the horizon and config hash that pick one) to the dataset folder the pipelines take.
"""

from gridoracle.dataset import load, split
from gridoracle.dataset.reader import find_dataset
from gridoracle.dataset.split import format_chronics, parse_chronic_list, split_summary

__all__ = [
    "find_dataset",
    "format_chronics",
    "load",
    "parse_chronic_list",
    "split",
    "split_summary",
]
