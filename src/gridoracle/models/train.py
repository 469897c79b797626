"""Train a zoo model on the training chronics of a dataset: :func:`train`.

The dataset is split by chronic (never by row, see :mod:`gridoracle.dataset.split`); the model is
fitted on the training chronics only, on targets whose NaN (diverged or illegal pairs) are replaced
by :data:`~gridoracle.models.zoo.UNSAFE_RHO` (see :func:`~gridoracle.models.zoo.fill_targets`).
The per-action mean is fitted on the same rows and saved with the model, so that every evaluation
reports it beside the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.reader import load as load_dataset
from gridoracle.dataset.split import DEFAULT_GAP, time_split_rows
from gridoracle.errors import DatasetError, InvalidOption
from gridoracle.io import json_safe
from gridoracle.models.persist import Predictor, model_versions, save
from gridoracle.models.zoo import (
    UNSAFE_RHO,
    _check_name,
    fill_targets,
    make_model,
    needs_line_targets,
    serial_predictions,
)

__all__ = ["DEFAULT_MODEL", "FALLBACK_MODEL", "TrainResult", "as_dataset", "default_model", "train"]

DEFAULT_MODEL = "line_flows"
"""The model :func:`train` fits when none is named: the best of the cross-validation on the
training chronics (see README, "Models"), and fast enough to score every action of a state in
less than one power flow."""

FALLBACK_MODEL = "random_forest"
"""The default on a dataset without every line's rho (generated with ``--targets max``)."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : Predictor
        The fitted model (``model.predict(X)`` gives a DataFrame, ``model.metadata`` its record).
    name : str
        Zoo name of the model.
    train_chronics, test_chronics : list of int
        The split: the model saw the training chronics only.
    train_rows, test_rows : int
        States on each side.
    train_seconds : float
        Wall time of ``fit`` (the model only, not loading or saving).
    path : Path or None
        The model folder, when saved.
    train, test : Dataset
        The two sides of the split (for evaluating without loading the dataset again).
    """

    model: Predictor
    name: str
    train_chronics: list[int]
    test_chronics: list[int]
    train_rows: int
    test_rows: int
    train_seconds: float
    path: Path | None
    train: Dataset = field(repr=False)
    test: Dataset = field(repr=False)


def as_dataset(data: str | Path | Dataset) -> Dataset:
    """``data`` itself if it is a loaded :class:`Dataset`, else the dataset read from that path."""
    return data if isinstance(data, Dataset) else load_dataset(Path(data))


def _check_usable(ds: Dataset, side: str) -> None:
    if len(ds) == 0:
        raise DatasetError(f"the {side} split of dataset {ds.path} is empty")
    if ds.X.shape[1] == 0:
        raise DatasetError(f"dataset {ds.path} has no feature columns")
    if ds.Y.shape[1] == 0:
        raise DatasetError(f"dataset {ds.path} has no actions")


def default_model(ds: Dataset) -> tuple[str, str]:
    """The model :func:`train` fits on ``ds`` when none is named, and why."""
    if ds.rho is not None:
        return DEFAULT_MODEL, "the default model"
    return FALLBACK_MODEL, (
        f"the default for a dataset without every line's rho ({DEFAULT_MODEL} needs a dataset "
        "generated with --targets full)"
    )


def _line_targets(name: str, ds: Dataset) -> list[np.ndarray] | None:
    """Every line's rho after each action, for a model that learns them (else None)."""
    if not needs_line_targets(name):
        return None
    if ds.rho is None:
        raise InvalidOption(
            f"model {name} learns every line's rho: dataset {ds.path} holds max rho only; "
            "generate it with --targets full",
            param="model",
        )
    return [ds.rho[a] for a in ds.action_names]


def train(
    data: str | Path | Dataset,
    model: str | None = None,
    *,
    out: str | Path | None = None,
    test_chronics: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    split_by: str = "chronic",
    gap: int = DEFAULT_GAP,
) -> TrainResult:
    """Fit zoo model ``model`` on the training chronics of ``data``; save it if ``out`` is given.

    Parameters
    ----------
    data : str, Path or Dataset
        A dataset folder (see :func:`gridoracle.dataset.load`) or a loaded dataset.
    model : str, optional
        A name of :data:`~gridoracle.models.zoo.MODEL_NAMES` (or ``action_conditioned``).
        Default: :data:`DEFAULT_MODEL` (``line_flows``), or :data:`FALLBACK_MODEL`
        (``random_forest``) on a dataset generated without ``--targets full``; the metadata
        records which and why (``default``).
    out : str or Path, optional
        Model folder to write (``model.joblib`` and ``metadata.json``); nothing is written without.
    test_chronics : sequence of int, optional
        Chronics held out for testing; default: drawn with ``test_fraction`` and ``seed``.
    test_fraction : float, default 0.25
        Share of chronics held out when ``test_chronics`` is not given.
    seed : int, default 0
        Seed of the split draw and of the model. Same data and seed, same model.
    params : dict, optional
        Overrides of the model's defaults (see :func:`gridoracle.models.zoo.make_model`).
    split_by : {"chronic", "time"}, default "chronic"
        ``"time"``: train on the start of every chronic, test on its last ``test_fraction``,
        ``gap`` steps left out between them (for datasets with too few chronics; see
        :func:`gridoracle.dataset.split`). The first test step of each chronic is recorded in
        the model's metadata, so that :func:`~gridoracle.models.evaluate.evaluate` finds the
        same rows.
    gap : int, default 12
        Steps left out between training and test states of a split by time.

    Returns
    -------
    TrainResult

    Raises
    ------
    InvalidOption
        Unknown model name or parameter, bad split options; a ``line_flows`` model on a
        dataset without every line's rho.
    DatasetError
        Missing or broken dataset, fewer than two chronics, an empty side.

    Examples
    --------
    >>> result = train("data/", "extra_trees", test_chronics=[2], out="models/extra_trees")
    ... # doctest: +SKIP
    >>> result.model.predict(result.test.X).shape  # doctest: +SKIP
    (575, 100)
    """
    if model is not None:
        _check_name(model)  # before loading anything
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidOption(f"seed {seed!r}: expected a non-negative integer")
    if model is not None:
        make_model(model, seed=int(seed), **(params or {}))  # parameters checked before loading
    ds = as_dataset(data)
    default = None
    if model is None:
        model, why = default_model(ds)
        default = {"model": model, "reason": why}
    estimator = make_model(model, seed=int(seed), **(params or {}))
    train_ds, test_ds = ds.split(
        by=split_by,
        test_chronics=test_chronics,
        test_fraction=test_fraction,
        seed=int(seed),
        gap=gap,
    )
    split_spec: dict[str, Any] = {"by": split_by}
    if split_by == "time":
        split_spec["gap"] = int(gap)
        split_spec["test_from_step"] = {
            str(c): v for c, v in time_split_rows(ds, test_fraction, gap).items()
        }
    _check_usable(train_ds, "training")
    _check_usable(test_ds, "test")
    seconds, baseline = _fit(estimator, train_ds, _line_targets(model, train_ds))
    training = {
        "seed": int(seed),
        "test_chronics": test_ds.chronics,
        "train_chronics": train_ds.chronics,
        "test_fraction": None if test_chronics is not None else float(test_fraction),
        "split": split_spec,
        "train_rows": len(train_ds),
        "test_rows": len(test_ds),
        "nan_target_fill": UNSAFE_RHO,
        "train_seconds": seconds,
    }
    if default is not None:
        training["default"] = default
    metadata = _metadata(model, params, estimator, ds, train_ds, training)
    predictor = Predictor(estimator, metadata, baseline=baseline)
    # the catalogue goes with the model: the agents (gridoracle.agent) play its actions
    path = save(predictor, out, actions=train_ds.actions) if out is not None else None
    return TrainResult(
        model=predictor,
        name=model,
        train_chronics=train_ds.chronics,
        test_chronics=test_ds.chronics,
        train_rows=len(train_ds),
        test_rows=len(test_ds),
        train_seconds=seconds,
        path=path,
        train=train_ds,
        test=test_ds,
    )


def _topology_context(ds: Dataset) -> Any:
    """The grid and catalogue a topology model takes, from the dataset's environment."""
    from gridoracle.models.topology import context_for_dataset

    try:
        return context_for_dataset(ds)
    except ValueError as exc:
        raise InvalidOption(f"dataset {ds.path}: {exc}", param="model") from exc


def _fit(
    estimator: Any, train_ds: Dataset, line_rho: list[np.ndarray] | None = None
) -> tuple[float, Any]:
    """Fit ``estimator`` on the training rows (NaN targets filled; every line's rho too for a
    model that learns them); return the fit's wall time and the per-action mean fitted on the
    same rows."""
    X = train_ds.X.to_numpy(dtype=np.float64)
    Y = fill_targets(train_ds.Y, UNSAFE_RHO)
    start = time.perf_counter()
    # one BLAS thread: the MLP's small matrix products got 13x slower with one thread per core
    # on a busy 2-core machine (measured in gridoracle run)
    with threadpool_limits(limits=1, user_api="blas"):
        if getattr(estimator, "requires_topology", False):
            estimator.fit(X, Y, line_rho=line_rho, context=_topology_context(train_ds))
        elif line_rho is None:
            estimator.fit(X, Y)
        else:
            estimator.fit(X, Y, line_rho=line_rho)
    seconds = time.perf_counter() - start
    serial_predictions(estimator)  # reproducible to the bit, and faster on few states
    return seconds, make_model("mean").fit(X, Y)


def _metadata(
    model: str,
    params: dict[str, Any] | None,
    estimator: Any,
    ds: Dataset,
    train_ds: Dataset,
    training: dict[str, Any],
) -> dict[str, Any]:
    """The record saved with a model (see :mod:`gridoracle.models.persist`)."""
    manifest = ds.manifest
    config = manifest.get("config", {}) if isinstance(manifest.get("config"), dict) else {}
    return {
        "model": model,
        "params": json_safe(dict(params or {}), fallback=repr),
        "estimator": repr(estimator),
        "features": [str(c) for c in train_ds.X.columns],
        "actions": train_ds.action_names,
        "dataset": {
            "path": str(ds.path),
            "config_hash": manifest.get("config_hash"),
            "env": config.get("env"),
            "horizon": config.get("horizon"),
        },
        "training": training,
        "versions": model_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": None,
    }
