"""How good is a model at predicting max rho, and at *choosing* actions with its predictions.

Pure metric functions on arrays (``y_true`` and ``y_pred`` of shape ``(n_states, n_actions)``):

:func:`regression_metrics`
    RMSE, MAE and R², overall and per action, on the pairs whose true target is finite. Overall R²
    is ``1 - Σ residual² / Σ (y - ȳ_action)²``: the per-action means of the evaluated targets score
    0 (it is scikit-learn's ``variance_weighted`` R² when no target is missing). An action whose
    finite targets are constant has no per-action R² (None).
:func:`decision_metrics`
    For every state the *chosen* action is the argmin of the predictions (ties: the first action
    in column order; a NaN prediction is never chosen before a finite one). The *true best* is the
    smallest finite true max rho; a state whose every true target is NaN has no best and is left
    out (counted in ``states_without_safe_action``).

    - **regret** = true max rho of the chosen action − true best (≥ 0). Choosing an action whose
      true target is NaN (diverged or illegal) costs its penalty value: ``max(2.0, worst finite
      true max rho of that state)``, i.e. never better than the worst action that survives.
    - **top-1 accuracy** = share of states with regret ≤ 1e-6 (an action tied with the best counts
      as the best; 11 % of the demo states have two actions tied for best).
    - **top-k recall** (k = 1, 5, 10) = share of states where one of the k lowest predictions is a
      true best (within 1e-6). k larger than the number of actions counts all of them.
    - **p95 regret**: NumPy's default (linear) percentile.
    - **unsafe choice rate**: share of states whose chosen action diverged or was illegal;
      **chosen overload rate**: share whose chosen action leaves max rho > 1 (or diverges);
      **best overload rate**: share where even the best action leaves max rho > 1.
    - with ``current_max_rho``: **mean gain vs current** = mean of (current max rho − true max rho
      of the chosen action), and **worse than current rate**.
    - **overload** precision / recall / F1 per (state, action) pair with a finite true target:
      positive means max rho > 1.0; a NaN prediction counts as predicting an overload. Precision
      (recall) is None when nothing is predicted (true) positive; F1 = 2TP / (2TP + FP + FN).

:func:`evaluate` applies them to a saved model on the test chronics, always beside two baselines:
**do nothing** (always chooses ``donothing``; as a regressor it predicts the current max rho for
every action; it ranks ``donothing`` first and the others in catalogue order) and the **per-action
mean** of the training targets (fitted on the same training rows and saved with the model).
:func:`compare` trains and evaluates the zoo and returns one leaderboard.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.dataset.reader import Dataset
from gridoracle.dataset.split import DEFAULT_GAP
from gridoracle.errors import DatasetError, InvalidOption
from gridoracle.io import json_safe
from gridoracle.models.persist import Predictor, load, update_metadata
from gridoracle.models.train import as_dataset, train
from gridoracle.models.zoo import ALL_MODEL_NAMES, MODEL_NAMES, UNSAFE_RHO

__all__ = [
    "DONOTHING",
    "LEADERBOARD_COLUMNS",
    "OVERLOAD_RHO",
    "TIE_TOL",
    "TOP_K",
    "CompareResult",
    "compare",
    "current_max_rho",
    "decision_metrics",
    "evaluate",
    "overload_metrics",
    "parse_model_list",
    "per_state_decisions",
    "regression_metrics",
    "summary",
]

OVERLOAD_RHO = 1.0
"""A line is overloaded above this rho."""
TIE_TOL = 1e-6
"""Two true max rho closer than this are tied (both are "the best")."""
TOP_K = (1, 5, 10)
DONOTHING = "donothing"
METRICS_FILE = "metrics.json"
_RHO_COLUMN = re.compile(r"^rho_\d+$")

LEADERBOARD_COLUMNS = (
    "model",
    "kind",
    "rmse",
    "mae",
    "r2",
    "top1_accuracy",
    "mean_regret",
    "p95_regret",
    "top5_recall",
    "overload_f1",
    "train_seconds",
    "predict_us_per_state",
)


# --------------------------------------------------------------------------------------------------
# Metric functions
# --------------------------------------------------------------------------------------------------


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both as float64 2-D arrays in the same column order, and the action names."""
    if isinstance(y_true, pd.DataFrame):
        names = [str(c) for c in y_true.columns]
        if isinstance(y_pred, pd.DataFrame):
            if sorted(map(str, y_pred.columns)) != sorted(names):
                raise ValueError("y_true and y_pred have different columns")
            y_pred = y_pred[list(y_true.columns)]
    else:
        names = []
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim == 1:
        t = t.reshape(-1, 1)
    if p.ndim == 1:
        p = p.reshape(-1, 1)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape}, y_pred {p.shape}")
    if not names:
        names = [str(i) for i in range(t.shape[1])]
    return t, p, names


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """RMSE, MAE and R² overall and per action, on the pairs whose true target is finite.

    Parameters
    ----------
    y_true : DataFrame or array of shape (n_states, n_actions)
        True max rho, NaN where the pair diverged or was illegal (those pairs are left out).
    y_pred : DataFrame or array of the same shape
        Predictions, finite where ``y_true`` is. DataFrame columns are matched by name.

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``r2``, ``n`` (pairs scored) and ``per_action``: ``{name: {rmse, mae,
        r2, n}}`` (names: the DataFrame columns, else ``"0"``, ``"1"``, ...). A metric without data
        is NaN.

    Examples
    --------
    >>> m = regression_metrics(np.array([[1.0, np.nan], [3.0, 2.0]]),
    ...                        np.array([[2.0, 9.0], [3.0, 1.0]]))
    >>> round(m["rmse"], 4), round(m["mae"], 4), m["n"], m["r2"]
    (0.8165, 0.6667, 3, 0.0)
    """
    t, p, names = _pair(y_true, y_pred)
    finite = np.isfinite(t)
    if np.any(finite & ~np.isfinite(p)):
        raise ValueError("y_pred is not finite where y_true is")
    err = np.where(finite, p - t, 0.0)
    counts = finite.sum(axis=0)
    sq = (err**2).sum(axis=0)
    ab = np.abs(err).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, np.where(finite, t, 0.0).sum(axis=0) / counts, 0.0)
    tot = (np.where(finite, t - means, 0.0) ** 2).sum(axis=0)
    per_action = {}
    for j, name in enumerate(names):
        n = int(counts[j])
        per_action[name] = {
            "rmse": math.sqrt(sq[j] / n) if n else math.nan,
            "mae": ab[j] / n if n else math.nan,
            "r2": 1.0 - sq[j] / tot[j] if tot[j] > 0 else math.nan,
            "n": n,
        }
    n_all = int(counts.sum())
    total_tot = float(tot.sum())
    return {
        "rmse": math.sqrt(sq.sum() / n_all) if n_all else math.nan,
        "mae": float(ab.sum() / n_all) if n_all else math.nan,
        "r2": 1.0 - float(sq.sum()) / total_tot if total_tot > 0 else math.nan,
        "n": n_all,
        "per_action": per_action,
    }


def overload_metrics(y_true: Any, y_pred: Any, threshold: float = OVERLOAD_RHO) -> dict[str, Any]:
    """Overload (max rho > ``threshold``) detection per (state, action) pair with a finite truth.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``, ``tn`` (counts), ``precision`` = TP / (TP + FP), ``recall`` =
        TP / (TP + FN), ``f1`` = 2TP / (2TP + FP + FN); NaN where the denominator is 0. A NaN
        prediction counts as a predicted overload.

    Examples
    --------
    >>> m = overload_metrics(np.array([[1.2, 0.8, 1.1, np.nan]]), np.array([[1.1, 1.3, 0.9, 2.0]]))
    >>> m["tp"], m["fp"], m["fn"], m["tn"], m["precision"], m["recall"], m["f1"]
    (1, 1, 1, 0, 0.5, 0.5, 0.5)
    """
    t, p, _ = _pair(y_true, y_pred)
    finite = np.isfinite(t)
    true_pos = finite & (t > threshold)
    pred_pos = finite & ~(p <= threshold)  # NaN prediction: positive
    tp = int((true_pos & pred_pos).sum())
    fp = int((~true_pos & pred_pos).sum())
    fn = int((true_pos & ~pred_pos).sum())
    tn = int(finite.sum()) - tp - fp - fn
    return {
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


@dataclass
class _Decisions:
    valid: np.ndarray  # states with at least one finite true target
    order: np.ndarray  # actions by increasing prediction (stable), valid states only
    penalized: np.ndarray  # true targets, NaN replaced by the penalty, valid states only
    best: np.ndarray  # true best value per valid state
    chosen_value: np.ndarray
    regret: np.ndarray
    chosen_unsafe: np.ndarray


def _decide(t: np.ndarray, p: np.ndarray, unsafe_value: float) -> _Decisions:
    finite = np.isfinite(t)
    valid = finite.any(axis=1)
    tv, pv, fv = t[valid], p[valid], finite[valid]
    ranked = np.where(np.isnan(pv), np.inf, pv)
    order = np.argsort(ranked, axis=1, kind="stable")
    worst = np.max(np.where(fv, tv, -np.inf), axis=1) if len(tv) else np.zeros(0)
    penalty = np.maximum(unsafe_value, worst)
    penalized = np.where(fv, tv, penalty[:, None])
    best = np.min(np.where(fv, tv, np.inf), axis=1) if len(tv) else np.zeros(0)
    rows = np.arange(len(tv))
    chosen = order[:, 0] if len(tv) else np.zeros(0, dtype=np.intp)
    chosen_value = penalized[rows, chosen]
    return _Decisions(
        valid=valid,
        order=order,
        penalized=penalized,
        best=best,
        chosen_value=chosen_value,
        regret=chosen_value - best,
        chosen_unsafe=~fv[rows, chosen],
    )


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def decision_metrics(
    y_true: Any,
    y_pred: Any,
    current_max_rho: Any = None,
    *,
    k: Sequence[int] = TOP_K,
    unsafe_value: float = UNSAFE_RHO,
    tol: float = TIE_TOL,
) -> dict[str, Any]:
    """Quality of the actions chosen by minimizing the predictions (see the module docstring).

    Parameters
    ----------
    y_true : DataFrame or array of shape (n_states, n_actions)
        True max rho, NaN where the pair diverged or was illegal.
    y_pred : DataFrame or array of the same shape
        Predicted max rho; the chosen action of a state is its argmin (first on ties).
    current_max_rho : array of shape (n_states,), optional
        Max rho of each state before acting; adds ``mean_gain_vs_current`` and
        ``worse_than_current_rate``.
    k : sequence of int, default (1, 5, 10)
        The k of the ``top{k}_recall`` entries.
    unsafe_value : float, default 2.0
        Least penalty value of choosing a diverged or illegal pair.
    tol : float, default 1e-6
        Tolerance of ties with the true best.

    Returns
    -------
    dict
        ``states``, ``states_without_safe_action``, ``top1_accuracy``, ``mean_regret``,
        ``median_regret``, ``p95_regret``, ``max_regret``, ``top{k}_recall``,
        ``unsafe_choice_rate``, ``chosen_overload_rate``, ``best_overload_rate``, ``overload``
        (see :func:`overload_metrics`) and, with ``current_max_rho``, ``mean_gain_vs_current``
        and ``worse_than_current_rate``. NaN where no state is scored.

    Examples
    --------
    >>> y_true = np.array([[0.9, 0.7, 1.2], [0.8, np.nan, 0.6]])
    >>> y_pred = np.array([[0.8, 0.9, 1.0], [0.9, 0.5, 0.7]])
    >>> m = decision_metrics(y_true, y_pred)
    >>> m["top1_accuracy"], round(m["mean_regret"], 6), m["top5_recall"]
    (0.0, 0.8, 1.0)
    """
    t, p, _ = _pair(y_true, y_pred)
    d = _decide(t, p, unsafe_value)
    n = len(d.best)
    out: dict[str, Any] = {
        "states": n,
        "states_without_safe_action": int((~d.valid).sum()),
        "top1_accuracy": _mean(d.regret <= tol),
        "mean_regret": _mean(d.regret),
        "median_regret": float(np.median(d.regret)) if n else math.nan,
        "p95_regret": float(np.percentile(d.regret, 95)) if n else math.nan,
        "max_regret": float(np.max(d.regret)) if n else math.nan,
    }
    for kk in k:
        if int(kk) < 1:
            raise ValueError(f"k must be at least 1, got {kk}")
        head = d.order[:, : int(kk)]
        reached = np.take_along_axis(d.penalized, head, axis=1).min(axis=1) if n else d.best
        out[f"top{int(kk)}_recall"] = _mean(reached <= d.best + tol)
    out["unsafe_choice_rate"] = _mean(d.chosen_unsafe)
    out["chosen_overload_rate"] = _mean(d.chosen_unsafe | (d.chosen_value > OVERLOAD_RHO))
    out["best_overload_rate"] = _mean(d.best > OVERLOAD_RHO)
    if current_max_rho is not None:
        current = np.asarray(current_max_rho, dtype=np.float64).reshape(-1)
        if current.shape[0] != t.shape[0]:
            raise ValueError(
                f"current_max_rho has {current.shape[0]} values for {t.shape[0]} states"
            )
        cv = current[d.valid]
        out["mean_gain_vs_current"] = _mean(cv - d.chosen_value)
        out["worse_than_current_rate"] = _mean(d.chosen_value > cv + tol)
    out["overload"] = overload_metrics(t, p)
    return out


def per_state_decisions(
    y_true: pd.DataFrame, y_pred: pd.DataFrame, *, unsafe_value: float = UNSAFE_RHO
) -> pd.DataFrame:
    """One row per state: the chosen action, the true best, and the regret (for plots).

    Returns
    -------
    DataFrame
        Index of ``y_true``; columns ``chosen`` (action name), ``chosen_true`` (its true max rho,
        NaN if it diverged), ``best`` (a true best action), ``best_true``, ``regret`` (with the
        penalty of :func:`decision_metrics`), ``correct`` (regret ≤ 1e-6), ``chosen_unsafe``.
        States without a finite true target have no best: ``best`` None, ``regret`` NaN.
    """
    t, p, names = _pair(y_true, y_pred)
    d = _decide(t, p, unsafe_value)
    n = len(t)
    chosen_all = np.argsort(np.where(np.isnan(p), np.inf, p), axis=1, kind="stable")[:, 0]
    rows = np.arange(n)
    best_idx = np.argmin(np.where(np.isfinite(t), t, np.inf), axis=1)
    regret = np.full(n, np.nan)
    regret[d.valid] = d.regret
    names_arr = np.asarray(names, dtype=object)
    best_names = np.where(d.valid, names_arr[best_idx], None)
    return pd.DataFrame(
        {
            "chosen": names_arr[chosen_all],
            "chosen_true": t[rows, chosen_all],
            "best": best_names,
            "best_true": np.where(d.valid, t[rows, best_idx], np.nan),
            "regret": regret,
            "correct": regret <= TIE_TOL,
            "chosen_unsafe": ~np.isfinite(t[rows, chosen_all]),
        },
        index=y_true.index if isinstance(y_true, pd.DataFrame) else pd.RangeIndex(n),
    )


def current_max_rho(X: pd.DataFrame) -> np.ndarray | None:
    """Max rho of each state before acting: the max of the ``rho_<i>`` features (None without)."""
    cols = [c for c in X.columns if _RHO_COLUMN.match(str(c))]
    if not cols:
        return None
    return X[cols].to_numpy(dtype=np.float64).max(axis=1)


def summary(entry: dict[str, Any]) -> dict[str, float]:
    """The leaderboard numbers of one evaluated entry (``{"regression": ..., "decision": ...}``)."""
    reg = entry.get("regression") or {}
    dec = entry.get("decision") or {}
    nan = math.nan
    return {
        "rmse": reg.get("rmse", nan),
        "mae": reg.get("mae", nan),
        "r2": reg.get("r2", nan),
        "top1_accuracy": dec.get("top1_accuracy", nan),
        "mean_regret": dec.get("mean_regret", nan),
        "p95_regret": dec.get("p95_regret", nan),
        "top5_recall": dec.get("top5_recall", nan),
        "overload_f1": (dec.get("overload") or {}).get("f1", nan),
    }


# --------------------------------------------------------------------------------------------------
# Evaluation of a saved model
# --------------------------------------------------------------------------------------------------


def _entry(t: pd.DataFrame, p: np.ndarray, current: np.ndarray | None) -> dict[str, Any]:
    pred = pd.DataFrame(p, columns=t.columns, index=t.index)
    return {
        "regression": regression_metrics(t, pred),
        "decision": decision_metrics(t, pred, current),
    }


def _donothing_entry(t: pd.DataFrame, current: np.ndarray | None) -> dict[str, Any] | None:
    """Do nothing: predicts the current max rho for every action, chooses ``donothing``."""
    if current is None or DONOTHING not in t.columns:
        return None
    first = [DONOTHING, *[c for c in t.columns if c != DONOTHING]]
    tt = t[first]  # donothing first: the stable argmin of a constant row picks it
    return _entry(tt, np.repeat(current[:, None], tt.shape[1], axis=1), current)


def _test_rows(
    predictor: Predictor, ds: Dataset, test_chronics: Sequence[int] | None
) -> tuple[Dataset, list[int], bool]:
    from gridoracle.dataset.split import format_chronics

    training = predictor.metadata.get("training") or {}
    trained_on = (predictor.metadata.get("dataset") or {}).get("config_hash")
    same = trained_on is not None and trained_on == ds.manifest.get("config_hash")
    train_chronics = [int(c) for c in training.get("train_chronics") or []]
    available = ds.chronics
    time_rows = recorded_time_split(training, ds) if same else None
    if time_rows is not None:
        if test_chronics is not None:
            raise InvalidOption(
                f"model {predictor.name} was trained on the start of every chronic of this "
                "dataset (split by time): it is evaluated on their ends, without --test-chronics"
            )
        test = ds.select(time_rows)
        if len(test) == 0:
            raise DatasetError(f"empty test split: dataset {ds.path} has no rows after the split")
        return test, test.chronics, same
    if test_chronics is None:
        wanted = [int(c) for c in training.get("test_chronics") or []] if same else available
    else:
        try:
            wanted = sorted({int(c) for c in test_chronics})
        except (TypeError, ValueError):
            raise InvalidOption(f"test chronics {test_chronics!r}: expected integers") from None
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise InvalidOption(
                f"test chronic(s) {unknown} not in dataset {ds.path.name}: "
                f"available {format_chronics(available)}"
            )
        seen = [c for c in wanted if c in train_chronics] if same else []
        if seen:
            raise InvalidOption(
                f"test chronic(s) {seen} were used to train model {predictor.name}: choose "
                f"among {format_chronics([c for c in available if c not in train_chronics])}"
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
    from gridoracle.dataset.split import time_split_masks

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
        it was trained on (same config hash), else every chronic of ``data``.
    out : str or Path, optional
        Where to write the metrics (JSON); default ``<model folder>/metrics.json`` (nothing is
        written for an unsaved model). The summary also goes to the model's ``metadata.json``.

    Returns
    -------
    dict
        ``model``, ``dataset``, ``test_chronics``, ``states``, ``actions``, ``policy`` (the
        constants of the metrics), ``results`` (``model``, ``mean``, ``donothing``: each
        ``{"regression": ..., "decision": ...}``, see :func:`regression_metrics` and
        :func:`decision_metrics`; ``donothing`` is None without a ``donothing`` action or
        ``rho_`` features), ``summary`` (leaderboard numbers of each), ``timing`` and
        ``metrics_path``. NaN metrics are NaN here and null in the file.

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
    truth = test.Y[predictor.action_names]
    current = current_max_rho(test.X)
    pred = np.asarray(predictor.estimator.predict(X), dtype=np.float64).reshape(truth.shape)
    results: dict[str, Any] = {"model": _entry(truth, pred, current)}
    if predictor.baseline is not None:
        base = np.asarray(predictor.baseline.predict(X), dtype=np.float64).reshape(truth.shape)
        results["mean"] = _entry(truth, base, current)
    else:
        results["mean"] = None
    results["donothing"] = _donothing_entry(truth, current)

    timing: dict[str, Any] = dict(_predict_timings(predictor.estimator, X))
    timing["train_seconds"] = (predictor.metadata.get("training") or {}).get("train_seconds")
    record: dict[str, Any] = {
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
        "policy": {
            "nan_target_fill": UNSAFE_RHO,
            "unsafe_choice_penalty": f"max({UNSAFE_RHO}, worst finite max rho of the state)",
            "tie_tolerance": TIE_TOL,
            "overload_threshold": OVERLOAD_RHO,
            "top_k": list(TOP_K),
        },
        "results": results,
        "summary": {k: summary(v) for k, v in results.items() if v is not None},
        "timing": timing,
        "metrics_path": None,
    }
    target = Path(out) if out is not None else None
    if target is None and predictor.path is not None:
        target = predictor.path / METRICS_FILE
    if target is not None:
        from gridoracle.errors import OutputError
        from gridoracle.io import atomic_write_json

        record["metrics_path"] = str(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(target, json_safe(record))
        except OSError as exc:
            raise OutputError(f"cannot write metrics file {target}: {exc.strerror}") from exc
    if predictor.path is not None:
        compact = {
            "dataset_config_hash": ds.manifest.get("config_hash"),
            "test_chronics": wanted,
            "states": len(test),
            "summary": record["summary"],
            "timing": timing,
        }
        predictor.metadata = update_metadata(predictor.path, metrics=json_safe(compact))
    return record


# --------------------------------------------------------------------------------------------------
# The zoo, trained and evaluated: one leaderboard
# --------------------------------------------------------------------------------------------------


@dataclass
class CompareResult:
    """What :func:`compare` returns.

    Attributes
    ----------
    leaderboard : DataFrame
        One row per model and baseline (columns :data:`LEADERBOARD_COLUMNS`), sorted by mean
        regret, then RMSE.
    results : dict
        The :func:`evaluate` record of each model, by name.
    model_paths : dict
        The model folder of each model, by name.
    test_chronics : list of int
    csv_path, json_path : Path
        The leaderboard files.
    """

    leaderboard: pd.DataFrame
    results: dict[str, dict[str, Any]] = field(repr=False)
    model_paths: dict[str, Path]
    test_chronics: list[int]
    csv_path: Path
    json_path: Path


def parse_model_list(models: str | Sequence[str]) -> list[str]:
    """``"all"`` → :data:`MODEL_NAMES`; ``"ridge,mlp"`` or a list → those names, checked.

    Examples
    --------
    >>> parse_model_list("ridge, extra_trees")
    ['ridge', 'extra_trees']
    """
    items = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    items = [m for m in items if m]
    if items == ["all"]:
        return list(MODEL_NAMES)
    if not items:
        raise InvalidOption("--models is empty: give all or names such as ridge,extra_trees")
    unknown = [m for m in items if m not in ALL_MODEL_NAMES]
    if unknown:
        raise InvalidOption(
            f"unknown model(s) {', '.join(unknown)}: expected all or among "
            f"{', '.join(ALL_MODEL_NAMES)}"
        )
    return list(dict.fromkeys(items))


def compare(
    data: str | Path | Dataset,
    models: str | Sequence[str] = "all",
    *,
    out: str | Path = "models",
    test_chronics: Sequence[int] | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    split_by: str = "chronic",
    gap: int = DEFAULT_GAP,
) -> CompareResult:
    """Train and evaluate several models on one split; write and return the leaderboard.

    Parameters
    ----------
    data : str, Path or Dataset
        The dataset.
    models : "all", str or sequence of str
        ``"all"`` (the zoo, :data:`MODEL_NAMES`), or names (a comma-separated string or a list).
    out : str or Path, default "models"
        Folder of the model folders (``<out>/<name>``) and of ``leaderboard.csv`` /
        ``leaderboard.json``.
    test_chronics, test_fraction, seed, split_by, gap
        The split and the seed, as in :func:`gridoracle.models.train`.
    progress : callable, optional
        Called as ``progress(name, index, total)`` before each model is trained.

    Returns
    -------
    CompareResult
        Rows: every model, plus ``donothing`` and (when ``mean`` is not among the models)
        ``mean`` as baselines (``kind`` column); a baseline has no training time.

    Examples
    --------
    >>> board = compare("data/", "mean,extra_trees", test_chronics=[2]).leaderboard
    ... # doctest: +SKIP
    """
    names = parse_model_list(models)
    ds = as_dataset(data)
    root = Path(out)
    results: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    chosen: list[int] = []
    for i, name in enumerate(names):
        if progress is not None:
            progress(name, i, len(names))
        trained = train(
            ds,
            name,
            out=root / name,
            test_chronics=test_chronics,
            test_fraction=test_fraction,
            seed=seed,
            split_by=split_by,
            gap=gap,
        )
        chosen = trained.test_chronics
        assert trained.path is not None
        paths[name] = trained.path
        # a split by time: evaluate finds the test rows in the model's metadata
        results[name] = evaluate(
            trained.path, ds, test_chronics=chosen if split_by == "chronic" else None
        )

    rows = []
    first = results[names[0]]
    baselines = [("donothing", first["summary"].get("donothing"))]
    if "mean" not in names:
        baselines.append(("mean", first["summary"].get("mean")))
    for name, numbers in baselines:
        if numbers is not None:
            rows.append(
                {
                    "model": name,
                    "kind": "baseline",
                    **numbers,
                    "train_seconds": math.nan,
                    "predict_us_per_state": math.nan,
                }
            )
    for name in names:
        record = results[name]
        rows.append(
            {
                "model": name,
                "kind": "baseline" if name == "mean" else "model",
                **record["summary"]["model"],
                "train_seconds": record["timing"]["train_seconds"],
                "predict_us_per_state": record["timing"]["predict_us_per_state"],
            }
        )
    board = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    board = board.sort_values(["mean_regret", "rmse"], kind="stable", na_position="last")
    board = board.reset_index(drop=True)

    from gridoracle.errors import OutputError
    from gridoracle.io import atomic_write_bytes, atomic_write_json

    csv_path, json_path = root / "leaderboard.csv", root / "leaderboard.json"
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(csv_path, board.to_csv(index=False).encode("utf-8"))
        atomic_write_json(
            json_path,
            json_safe(
                {
                    "dataset": {
                        "path": str(ds.path),
                        "config_hash": ds.manifest.get("config_hash"),
                    },
                    "test_chronics": chosen,
                    "split_by": split_by,
                    "gap": gap if split_by == "time" else None,
                    "seed": seed,
                    "sorted_by": ["mean_regret", "rmse"],
                    "rows": board.to_dict(orient="records"),
                }
            ),
        )
    except OSError as exc:
        raise OutputError(f"cannot write the leaderboard under {root}: {exc.strerror}") from exc
    return CompareResult(
        leaderboard=board,
        results=results,
        model_paths=paths,
        test_chronics=chosen,
        csv_path=csv_path,
        json_path=json_path,
    )
