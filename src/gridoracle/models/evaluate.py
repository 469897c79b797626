"""Evaluate a saved model on the test rows of a dataset: :func:`evaluate`.

The model is scored with the metrics of :mod:`gridoracle.models.metrics` (regression and decision
quality), always beside two baselines: **do nothing** (always chooses ``donothing``; as a regressor
it predicts the current max rho for every action; it ranks ``donothing`` first and the others in
catalogue order) and the **per-action mean** of the training targets (fitted on the same training
rows and saved with the model). The test rows are the model's own test chronics (or the ends of
its chronics, split by time) when the dataset is the one it was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.split import check_chronics_in, format_chronics, time_split_masks
from gridoracle.errors import DatasetError, InvalidOption, OutputError
from gridoracle.grid import env_label
from gridoracle.io import atomic_write_json, json_safe
from gridoracle.models.metrics import (
    DANGER_RHO,
    DONOTHING,
    OVERLOAD_RHO,
    TIE_TOL,
    TOP_K,
    current_max_rho,
    decision_metrics,
    regression_metrics,
    state_subsets,
    summary,
)
from gridoracle.models.persist import Predictor, load, update_metadata
from gridoracle.models.train import as_dataset
from gridoracle.models.zoo import UNSAFE_RHO

__all__ = ["METRICS_FILE", "evaluate", "recorded_time_split"]

METRICS_FILE = "metrics.json"


def _entry(
    t: pd.DataFrame,
    p: np.ndarray,
    current: np.ndarray | None,
    masks: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    pred = pd.DataFrame(p, columns=t.columns, index=t.index)
    subsets = {}
    for name, mask in (masks or {}).items():
        sub = None if current is None else current[mask]
        subsets[name] = decision_metrics(t[mask], pred[mask], sub)
        subsets[name].pop("overload")
    return {
        "regression": regression_metrics(t, pred),
        "decision": decision_metrics(t, pred, current),
        "subsets": subsets,
    }


def _donothing_entry(
    t: pd.DataFrame, current: np.ndarray | None, masks: dict[str, np.ndarray] | None = None
) -> dict[str, Any] | None:
    """Do nothing: predicts the current max rho for every action, chooses ``donothing``."""
    if current is None or DONOTHING not in t.columns:
        return None
    first = [DONOTHING, *[c for c in t.columns if c != DONOTHING]]
    tt = t[first]  # donothing first: the stable argmin of a constant row picks it
    return _entry(tt, np.repeat(current[:, None], tt.shape[1], axis=1), current, masks)


def same_environment(predictor: Predictor, ds: Dataset, same: bool) -> str | None:
    """The environment ``ds`` shares with the model's training dataset, or None.

    Two datasets of one environment hold the same chronics (another configuration of the
    generation, e.g. fewer steps, still has the training states' injections), so the environment
    is compared, not only the config hash; a model without a recorded environment is compared by
    hash only.
    """
    trained = (predictor.metadata.get("dataset") or {}).get("env")
    current = (ds.manifest.get("config") or {}).get("env")
    if same:
        return str(current or trained or "its environment")
    if not trained or not current:
        return None
    if str(trained) == str(current) or env_label(str(trained)) == env_label(str(current)):
        return str(current)
    return None


def _test_rows(
    predictor: Predictor, ds: Dataset, test_chronics: Sequence[int] | None
) -> tuple[Dataset, list[int], bool]:
    training = predictor.metadata.get("training") or {}
    trained_on = (predictor.metadata.get("dataset") or {}).get("config_hash")
    same = trained_on is not None and trained_on == ds.manifest.get("config_hash")
    env = same_environment(predictor, ds, same)
    train_chronics = [int(c) for c in training.get("train_chronics") or []] if env else []
    available = ds.chronics
    unseen = [c for c in available if c not in train_chronics]
    time_rows = recorded_time_split(training, ds) if same else None
    if time_rows is not None:
        if test_chronics is not None:
            raise InvalidOption(
                f"model {predictor.name} was trained on the start of every chronic of this "
                "dataset (split by time): it is evaluated on their ends, without test chronics"
            )
        test = ds.select(time_rows)
        if len(test) == 0:
            raise DatasetError(f"empty test split: dataset {ds.path} has no rows after the split")
        return test, test.chronics, same
    if test_chronics is None:
        wanted = [int(c) for c in training.get("test_chronics") or []] if same else unseen
        if not same and env and not wanted:
            raise InvalidOption(
                f"model {predictor.name} was trained on chronic(s) "
                f"{format_chronics(train_chronics)} of {env}: dataset {ds.path.name} has no "
                "other chronic to evaluate it on"
            )
    else:
        try:
            wanted = sorted({int(c) for c in test_chronics})
        except (TypeError, ValueError):
            raise InvalidOption(f"test chronics {test_chronics!r}: expected integers") from None
        check_chronics_in(ds, wanted)
        seen = [c for c in wanted if c in train_chronics]
        if seen:
            raise InvalidOption(
                f"test chronic(s) {seen} were used to train model {predictor.name}"
                + ("" if same else f" (on another dataset of {env})")
                + f": choose among {format_chronics(unseen)}"
            )
    test = ds.select(ds.meta["chronic"].isin(wanted).to_numpy())
    if len(test) == 0:
        raise DatasetError(
            f"empty test split: dataset {ds.path} has no rows of chronic(s) {wanted or '[]'}"
        )
    return test, wanted, same


def recorded_time_split(training: dict[str, Any], ds: Dataset) -> np.ndarray | None:
    """Test rows of ``ds`` of a model trained with a split by time (its metadata's
    ``training``), or None for a split by chronic."""
    spec = training.get("split") or {}
    if spec.get("by") != "time":
        return None
    test, _train = time_split_masks(ds, spec.get("test_from_step") or {}, int(spec.get("gap", 0)))
    return test


def _predict_timings(estimator: Any, X: np.ndarray) -> dict[str, float]:
    """Prediction time per state: best of 3 batch predictions, median of 20 single states."""
    batch = []
    for _ in range(3):
        start = time.perf_counter()
        estimator.predict(X)
        batch.append(time.perf_counter() - start)
    single = []
    for i in range(min(20, len(X))):
        start = time.perf_counter()
        estimator.predict(X[i : i + 1])
        single.append(time.perf_counter() - start)
    return {
        "predict_us_per_state": min(batch) / len(X) * 1e6,
        "predict_us_single_state": float(np.median(single)) * 1e6,
    }


def evaluate(
    model_path: str | Path | Predictor,
    data: str | Path | Dataset,
    *,
    test_chronics: Sequence[int] | None = None,
    out: str | Path | None = None,
    record: bool | None = None,
) -> dict[str, Any]:
    """Evaluate a saved model on test chronics, beside the do-nothing and per-action-mean baselines.

    Parameters
    ----------
    model_path : str, Path or Predictor
        A model folder (see :func:`gridoracle.models.load`) or a loaded model.
    data : str, Path or Dataset
        A dataset with the model's features and actions.
    test_chronics : sequence of int, optional
        Chronics to evaluate on. Default: the model's test chronics when ``data`` is the dataset
        it was trained on (same config hash), else every chronic of ``data`` the model was not
        trained on. A chronic the model was trained on is refused on any dataset of the same
        environment (another configuration of it holds the same states' injections).
    out : str or Path, optional
        Where to write the metrics (JSON); default ``<model folder>/metrics.json`` (nothing is
        written for an unsaved model).
    record : bool, optional
        Also record the summary in the model's ``metadata.json`` (its ``metrics``). Default: only
        when ``out`` is not given (the metrics then go to the model's own ``metrics.json``); with
        ``out``, the model folder is left alone unless ``record=True``.

    Returns
    -------
    dict
        ``model``, ``dataset``, ``test_chronics``, ``states``, ``actions``, ``policy`` (the
        constants of the metrics), ``results`` (``model``, ``mean``, ``donothing``: each
        ``{"regression": ..., "decision": ..., "subsets": ...}``, see :func:`regression_metrics`
        and :func:`decision_metrics`; ``subsets``: the decision metrics on the dangerous and the
        non-reference states, see :func:`~gridoracle.models.metrics.state_subsets`;
        ``donothing`` is None without a ``donothing`` action or ``rho_`` features),
        ``summary`` (leaderboard numbers of each), ``timing`` and ``metrics_path``.
        NaN metrics are NaN here and null in the file.

    Raises
    ------
    ModelError, ModelMismatch
        Missing or corrupted model; dataset with other features or actions.
    InvalidOption, DatasetError
        Test chronics unknown, used for training, or selecting no row.

    Examples
    --------
    >>> result = evaluate("models/random_forest", "data/")  # doctest: +SKIP
    >>> result["summary"]["model"]["mean_regret"] < result["summary"]["mean"]["mean_regret"]
    ... # doctest: +SKIP
    True
    """
    predictor = model_path if isinstance(model_path, Predictor) else load(model_path)
    ds = as_dataset(data)
    predictor.check_dataset(ds)
    test, wanted, same = _test_rows(predictor, ds, test_chronics)
    X = test.X[predictor.feature_names].to_numpy(dtype=np.float64)
    results = _scores(predictor, X, test)
    timing: dict[str, Any] = dict(_predict_timings(predictor.estimator, X))
    timing["train_seconds"] = (predictor.metadata.get("training") or {}).get("train_seconds")
    result: dict[str, Any] = {
        "model": predictor.name,
        "model_path": None if predictor.path is None else str(predictor.path),
        "dataset": {
            "path": str(ds.path),
            "config_hash": ds.manifest.get("config_hash"),
            "same_as_training": same,
        },
        "test_chronics": wanted,
        "split": ((predictor.metadata.get("training") or {}).get("split") if same else None)
        or {"by": "chronic"},
        "states": len(test),
        "actions": len(predictor.action_names),
        "policy": _policy(),
        "results": results,
        "summary": {k: summary(v) for k, v in results.items() if v is not None},
        "timing": timing,
        "metrics_path": None,
    }
    target = Path(out) if out is not None else None
    if target is None and predictor.path is not None:
        target = predictor.path / METRICS_FILE
    if target is not None:
        _write_metrics(result, target)
    if predictor.path is not None and (out is None if record is None else record):
        compact = {
            "dataset_config_hash": ds.manifest.get("config_hash"),
            "test_chronics": wanted,
            "states": len(test),
            "summary": result["summary"],
            "timing": timing,
            "metrics_path": result["metrics_path"],
        }
        predictor.metadata = update_metadata(predictor.path, metrics=json_safe(compact))
    return result


def _policy() -> dict[str, Any]:
    """The constants of the metrics, recorded with every evaluation."""
    return {
        "nan_target_fill": UNSAFE_RHO,
        "unsafe_choice_penalty": f"max({UNSAFE_RHO}, worst finite max rho of the state)",
        "tie_tolerance": TIE_TOL,
        "overload_threshold": OVERLOAD_RHO,
        "top_k": list(TOP_K),
        "dangerous": f"do-nothing max rho > {DANGER_RHO}",
        "non_reference": "states in another topology or with a line out (see "
        "gridoracle.models.metrics.state_subsets)",
    }


def _scores(predictor: Predictor, X: np.ndarray, test: Dataset) -> dict[str, Any]:
    """The model's entry, the per-action mean's (None without) and do nothing's (None without)."""
    truth = test.Y[predictor.action_names]
    current = current_max_rho(test.X)
    masks = state_subsets(test.X, truth, test.meta)
    pred = np.asarray(predictor.estimator.predict(X), dtype=np.float64).reshape(truth.shape)
    results: dict[str, Any] = {"model": _entry(truth, pred, current, masks)}
    if predictor.baseline is not None:
        base = np.asarray(predictor.baseline.predict(X), dtype=np.float64).reshape(truth.shape)
        results["mean"] = _entry(truth, base, current, masks)
    else:
        results["mean"] = None
    results["donothing"] = _donothing_entry(truth, current, masks)
    return results


def _write_metrics(record: dict[str, Any], target: Path) -> None:
    """Write ``record`` (NaN as null) to ``target``; set its ``metrics_path``."""
    record["metrics_path"] = str(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(target, json_safe(record))
    except OSError as exc:
        raise OutputError(f"cannot write metrics file {target}: {exc.strerror}") from exc
