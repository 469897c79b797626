"""Every figure of a dataset and its models (being moved here from gridoracle.pipelines.run)."""

from gridoracle.pipelines.run import figure_rows, make_plots

__all__ = ["figure_rows", "make_plots"]
