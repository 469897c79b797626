"""Train, evaluate and compare models on a dataset: ``gridoracle train | evaluate | compare``.

Each verb takes a request dataclass and a :class:`~gridoracle.progress.Progress`. Fitting runs in
this process with one BLAS thread (reproducible to the bit). :func:`compare` trains every model of
the request on one split, evaluates each beside the baselines and writes the leaderboard
(:mod:`gridoracle.models.leaderboard`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.split import DEFAULT_GAP
from gridoracle.errors import InvalidOption
from gridoracle.models.evaluate import evaluate as evaluate_model
from gridoracle.models.leaderboard import leaderboard, write_leaderboard
from gridoracle.models.persist import load as load_model
from gridoracle.models.train import TrainResult, as_dataset, default_model
from gridoracle.models.train import train as train_model
from gridoracle.models.zoo import needs_line_targets, parse_model_list
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    """One model to fit on the training part of a dataset's split (see :func:`train`).

    Attributes
    ----------
    data : str, Path or Dataset
        A dataset folder or a loaded dataset.
    model : str, optional
        A name of the zoo (``gridoracle.models.zoo.MODEL_NAMES``); default: the dataset's
        default model (:func:`gridoracle.models.train.default_model`).
    out : Path, optional
        The model folder to write; default ``models/<model>`` (the model chosen).
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

    data: str | Path | Dataset
    model: str | None = None
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
    data : str, Path or Dataset
        A dataset (folder or loaded) with the model's features and actions.
    test_chronics : sequence of int, optional
        Default: the model's test chronics when ``data`` is the dataset it was trained on.
    out : Path, optional
        Where to write the metrics (JSON); default ``<model folder>/metrics.json``.
    record : bool, optional
        Record the summary in the model's ``metadata.json``. Default: only without ``out`` (the
        metrics then go to the model's own ``metrics.json``); with ``out`` the model folder is
        left alone unless ``record=True``.
    """

    model: str | Path
    data: str | Path | Dataset
    test_chronics: Sequence[int] | None = None
    out: Path | None = None
    record: bool | None = None


@dataclass(frozen=True)
class CompareRequest:
    """Several models trained and evaluated on one split (see :func:`compare`).

    Attributes
    ----------
    data : str, Path or Dataset
        The dataset (folder or loaded).
    models : str or sequence of str
        ``"all"`` (the zoo) or names (comma-separated or a list).
    out : Path
        Folder of the model folders and of ``leaderboard.csv`` / ``leaderboard.json``.
    test_chronics, test_fraction, seed, split_by, gap
        As in :class:`TrainRequest`.
    """

    data: str | Path | Dataset
    models: str | Sequence[str] = "all"
    out: Path = Path("models")
    test_chronics: Sequence[int] | None = None
    test_fraction: float = 0.25
    seed: int = 0
    split_by: str = "chronic"
    gap: int = DEFAULT_GAP


@dataclass
class CompareResult:
    """What :func:`compare` returns.

    Attributes
    ----------
    leaderboard : DataFrame
        One row per model and baseline (columns
        :data:`~gridoracle.models.leaderboard.LEADERBOARD_COLUMNS`), sorted by mean regret, then
        RMSE.
    results : dict
        The :func:`~gridoracle.models.evaluate.evaluate` record of each model, by name.
    model_paths : dict
        The model folder of each model, by name.
    test_chronics : list of int
    csv_path, json_path : Path
        The leaderboard files.
    skipped : list of str
        Models of the request left out: the ``line_flows`` models on a dataset without every
        line's rho (``--targets full``).
    """

    leaderboard: pd.DataFrame
    results: dict[str, dict[str, Any]] = field(repr=False)
    model_paths: dict[str, Path]
    test_chronics: list[int]
    csv_path: Path
    json_path: Path
    skipped: list[str] = field(default_factory=list)


def _split_options(request: TrainRequest | CompareRequest) -> dict[str, Any]:
    """The split and seed of a request, as :func:`gridoracle.models.train.train` takes them."""
    return {
        "test_chronics": request.test_chronics,
        "test_fraction": request.test_fraction,
        "seed": request.seed,
        "split_by": request.split_by,
        "gap": request.gap,
    }


def train(request: TrainRequest, progress: Progress = SILENT) -> TrainResult:
    """Fit ``request.model`` on the training part of the split and save it to ``request.out``."""
    ds = as_dataset(request.data) if request.model is None else request.data
    model = request.model if request.model is not None else default_model(as_dataset(ds))[0]
    progress.stage(f"training {model}")
    return train_model(
        ds,
        request.model,
        out=request.out if request.out is not None else Path("models") / model,
        params=dict(request.params) or None,
        **_split_options(request),
    )


def evaluate(request: EvaluateRequest, progress: Progress = SILENT) -> dict[str, Any]:
    """Score a saved model beside the do-nothing and per-action-mean baselines."""
    progress.stage(f"evaluating {request.model}")
    return evaluate_model(
        request.model,
        request.data,
        test_chronics=request.test_chronics,
        out=request.out,
        record=request.record,
    )


def compare(request: CompareRequest, progress: Progress = SILENT) -> CompareResult:
    """Train and evaluate every model of ``request`` on one split; write the leaderboard.

    ``progress.advance(index, total, name)`` before each model is trained.

    Returns
    -------
    CompareResult
        Rows: every model, plus ``donothing`` and (when ``mean`` is not among the models)
        ``mean`` as baselines (``kind`` column); a baseline has no training time.

    Raises
    ------
    InvalidOption
        An unknown model name (before the dataset is read), bad split options.

    Examples
    --------
    >>> board = compare(CompareRequest("data/", "mean,extra_trees", test_chronics=[2]))
    ... # doctest: +SKIP
    >>> board.leaderboard.columns[0]  # doctest: +SKIP
    'model'
    """
    names = parse_model_list(request.models)  # fail on a bad name before reading the dataset
    ds = as_dataset(request.data)
    skipped = [n for n in names if needs_line_targets(n)] if ds.rho is None else []
    if skipped:
        names = [n for n in names if n not in skipped]
        if not names:
            raise InvalidOption(
                f"models {', '.join(skipped)} learn every line's rho: dataset {ds.path} holds "
                "max rho only; generate it with --targets full",
                param="models",
            )
        log.warning(
            "models %s left out: dataset %s holds max rho only (generate it with --targets full)",
            ", ".join(skipped),
            ds.path,
        )
    root = Path(request.out)
    results: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    chosen: list[int] = []
    for i, name in enumerate(names):
        progress.advance(i, len(names), name)
        trained = train_model(ds, name, out=root / name, **_split_options(request))
        chosen = trained.test_chronics
        assert trained.path is not None
        paths[name] = trained.path
        # a split by time: evaluate finds the test rows in the model's metadata
        by_chronic = request.split_by == "chronic"
        results[name] = evaluate_model(  # the training's own record: metadata.json too
            trained.path, ds, test_chronics=chosen if by_chronic else None, record=True
        )
    board = leaderboard(names, results)
    split = {
        "dataset": {"path": str(ds.path), "config_hash": ds.manifest.get("config_hash")},
        "test_chronics": chosen,
        "split_by": request.split_by,
        "gap": request.gap if request.split_by == "time" else None,
        "seed": request.seed,
    }
    csv_path, json_path = write_leaderboard(board, root, split)
    return CompareResult(
        skipped=skipped,
        leaderboard=board,
        results=results,
        model_paths=paths,
        test_chronics=chosen,
        csv_path=csv_path,
        json_path=json_path,
    )
