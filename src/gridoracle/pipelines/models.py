"""Train, evaluate and compare models (being moved here from gridoracle.models)."""

from gridoracle.models import load as load_model
from gridoracle.models.evaluate import compare, evaluate, parse_model_list
from gridoracle.models.train import train

__all__ = ["compare", "evaluate", "load_model", "parse_model_list", "train"]
