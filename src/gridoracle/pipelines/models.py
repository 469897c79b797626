"""Train, evaluate and compare models on a dataset: ``gridoracle train | evaluate | compare``.

Each verb takes a request dataclass and a :class:`~gridoracle.progress.Progress`. Fitting runs in
this process with one BLAS thread (reproducible to the bit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridoracle.dataset.split import DEFAULT_GAP
from gridoracle.models import load as load_model
from gridoracle.models.evaluate import CompareResult, parse_model_list
from gridoracle.models.train import TrainResult
from gridoracle.progress import SILENT, Progress

__all__ = [
    "DEFAULT_GAP",
    "CompareRequest",
    "CompareResult",
    "EvaluateRequest",
    "TrainRequest",
    "TrainResult",
    "compare",
    "evaluate",
    "load_model",
    "parse_model_list",
    "train",
]


@dataclass(frozen=True)
class TrainRequest:
    """One model to fit on the training part of a dataset's split (see :func:`train`).

    Attributes
    ----------
    data : str or Path
        A dataset folder.
    model : str
        A name of the zoo (``gridoracle.models.zoo.MODEL_NAMES``).
    out : Path, optional
        The model folder to write (nothing is written without).
    test_chronics : sequence of int, optional
        Chronics held out; default: the last ``test_fraction`` of the chronics.
    test_fraction : float
        Share of the chronics (or of each chronic's steps, split by time) held out.
    seed : int
        Seed of the estimator.
    params : dict, optional
        Estimator parameters.
    split_by : {"chronic", "time"}
        Split by whole chronics, or by time within each chronic.
    gap : int
        Steps left out before the test part of a split by time.
    """

    data: str | Path
    model: str = "random_forest"
    out: Path | None = None
    test_chronics: Sequence[int] | None = None
    test_fraction: float = 0.25
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    split_by: str = "chronic"
    gap: int = DEFAULT_GAP


@dataclass(frozen=True)
class EvaluateRequest:
    """A saved model scored on test chronics of a dataset (see :func:`evaluate`).

    Attributes
    ----------
    model : str or Path
        A model folder written by :func:`train`.
    data : str or Path
        A dataset with the model's features and actions.
    test_chronics : sequence of int, optional
        Default: the model's test chronics when ``data`` is the dataset it was trained on.
    out : Path, optional
        Where to write the metrics (JSON); default ``<model folder>/metrics.json``.
    """

    model: str | Path
    data: str | Path
    test_chronics: Sequence[int] | None = None
    out: Path | None = None


@dataclass(frozen=True)
class CompareRequest:
    """Several models trained and evaluated on one split (see :func:`compare`).

    Attributes
    ----------
    data : str or Path
        The dataset.
    models : str or sequence of str
        ``"all"`` (the zoo) or names (comma-separated or a list).
    out : Path
        Folder of the model folders and of ``leaderboard.csv`` / ``leaderboard.json``.
    test_chronics, test_fraction, seed, split_by, gap
        As in :class:`TrainRequest`.
    """

    data: str | Path
    models: str | Sequence[str] = "all"
    out: Path = Path("models")
    test_chronics: Sequence[int] | None = None
    test_fraction: float = 0.25
    seed: int = 0
    split_by: str = "chronic"
    gap: int = DEFAULT_GAP


def train(request: TrainRequest, progress: Progress = SILENT) -> TrainResult:
    """Fit ``request.model`` on the training part of the split and save it to ``request.out``."""
    from gridoracle.models.train import train as _train

    progress.stage(f"training {request.model}")
    return _train(
        request.data,
        request.model,
        out=request.out,
        test_chronics=request.test_chronics,
        test_fraction=request.test_fraction,
        seed=request.seed,
        params=dict(request.params) or None,
        split_by=request.split_by,
        gap=request.gap,
    )


def evaluate(request: EvaluateRequest, progress: Progress = SILENT) -> dict[str, Any]:
    """Score a saved model beside the do-nothing and per-action-mean baselines."""
    from gridoracle.models.evaluate import evaluate as _evaluate

    progress.stage(f"evaluating {request.model}")
    return _evaluate(
        request.model, request.data, test_chronics=request.test_chronics, out=request.out
    )


def compare(request: CompareRequest, progress: Progress = SILENT) -> CompareResult:
    """Train and evaluate every model of ``request`` on one split; write the leaderboard.

    ``progress.advance(index, total, name)`` before each model is trained.
    """
    from gridoracle.models.evaluate import compare as _compare

    return _compare(
        request.data,
        request.models,
        out=request.out,
        test_chronics=request.test_chronics,
        test_fraction=request.test_fraction,
        seed=request.seed,
        progress=lambda name, i, n: progress.advance(i, n, name),
        split_by=request.split_by,
        gap=request.gap,
    )
