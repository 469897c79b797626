"""Load and split datasets for the CLI's ``split`` verb and the other pipelines."""

from gridoracle.dataset import load, split
from gridoracle.dataset.split import format_chronics, parse_chronic_list, split_summary

__all__ = ["format_chronics", "load", "parse_chronic_list", "split", "split_summary"]
