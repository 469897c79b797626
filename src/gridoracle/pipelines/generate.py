"""The action-outcome dataset pipeline (being moved here from gridoracle.dataset.generate)."""

from gridoracle.dataset.generate import GenerateReport, generate

__all__ = ["GenerateReport", "generate"]
