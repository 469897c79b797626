"""Which features a model relies on: its own importances, or permutation importance.

:func:`feature_importances` gives the model's own importances (``feature_importances_``, also
inside a scaling pipeline or a wrapper) when it has them, else :func:`permutation_importances` on a
seeded subsample: the increase in RMSE when one feature column is shuffled.
:func:`gridoracle.plots.plot_feature_importances` draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["feature_importances", "permutation_importances"]


def _own_importances(model: Any, n_features: int) -> np.ndarray | None:
    """The model's own feature importances, looking inside common wrappers; None if it has none."""
    seen: set[int] = set()
    todo = [model]
    while todo:
        obj = todo.pop(0)
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        values = getattr(obj, "feature_importances_", None)
        if values is not None:
            arr = np.asarray(values, dtype=float).ravel()
            if arr.size == n_features and np.all(np.isfinite(arr)):
                return arr
        steps = getattr(obj, "steps", None)  # sklearn Pipeline: the last step sees the features
        if isinstance(steps, list) and steps:
            # a step that rescales keeps feature identity; anything else (PCA, ...) does not
            if all(type(s[1]).__name__ in {"StandardScaler", "MinMaxScaler"} for s in steps[:-1]):
                todo.append(steps[-1][1])
            continue
        todo.extend(
            getattr(obj, attr, None) for attr in ("estimator", "estimator_", "model", "regressor_")
        )
    return None


def _rmse(truth: np.ndarray, pred: np.ndarray) -> float:
    ok = np.isfinite(truth) & np.isfinite(pred)
    return float(np.sqrt(np.mean((pred[ok] - truth[ok]) ** 2))) if ok.any() else float("nan")


def permutation_importances(
    predict: Callable[[pd.DataFrame], Any],
    X: pd.DataFrame,
    Y: Any,
    *,
    n_repeats: int = 3,
    seed: int = 0,
    batch_rows: int = 200_000,
) -> np.ndarray:
    """Permutation importance: mean increase in RMSE when one feature column is shuffled.

    The same definition as :func:`sklearn.inspection.permutation_importance` with the score
    ``-RMSE`` over the finite targets, but for any ``predict`` (no estimator API needed), with all
    shuffled copies predicted in few large calls, and without predicting at all for a column that
    is constant over the rows (shuffling it changes nothing: its importance is exactly 0).

    Each shuffle of column ``j``, repeat ``r`` draws from ``default_rng([seed, j, r])``: the
    values do not depend on ``batch_rows``.

    Returns
    -------
    numpy.ndarray
        One value per column of ``X`` (mean over ``n_repeats`` shuffles).
    """
    truth = np.asarray(Y, dtype=float)
    n, m = X.shape
    base = _rmse(truth, np.asarray(predict(X), dtype=float))
    values = X.to_numpy()
    varying = [j for j in range(m) if n > 1 and not np.all(values[:, j] == values[0, j])]
    jobs = [(j, r) for j in varying for r in range(n_repeats)]
    per_call = max(1, batch_rows // max(n, 1))
    increase = np.zeros((m, n_repeats))
    for start in range(0, len(jobs), per_call):
        part = jobs[start : start + per_call]
        stacked = np.tile(values, (len(part), 1))
        for k, (j, r) in enumerate(part):
            order = np.random.default_rng([seed, j, r]).permutation(n)
            stacked[k * n : (k + 1) * n, j] = values[order, j]
        pred = np.asarray(predict(pd.DataFrame(stacked, columns=X.columns)), dtype=float)
        for k, (j, r) in enumerate(part):
            increase[j, r] = _rmse(truth, pred[k * n : (k + 1) * n]) - base
    return np.nan_to_num(increase.mean(axis=1))


def feature_importances(
    model: Any,
    X: pd.DataFrame,
    Y: pd.DataFrame | None = None,
    *,
    n_samples: int = 400,
    n_repeats: int = 3,
    seed: int = 0,
) -> tuple[pd.Series, str]:
    """Feature importances of a fitted model, sorted decreasing.

    The model's own importances (``feature_importances_``, e.g. of a random forest, also inside a
    scaling pipeline or a wrapper) when it has them; else permutation importance (see
    :func:`permutation_importances`): the increase in RMSE over the finite targets when one feature
    column is shuffled, on a seeded subsample of ``n_samples`` rows.

    Parameters
    ----------
    model : object
        Anything with ``predict(X)`` returning one column per action.
    X : pandas.DataFrame
        Features (columns are the feature names).
    Y : pandas.DataFrame, optional
        True max rho of the rows of ``X``; needed for permutation importance.
    n_samples, n_repeats, seed
        Subsample size, shuffles per feature and seed of the permutation importance.

    Returns
    -------
    (pandas.Series, str)
        Importance per feature name, and a short description of the method.
    """
    names = [str(c) for c in X.columns]
    own = _own_importances(model, len(names))
    if own is not None:
        return (
            pd.Series(own, index=names, name="importance").sort_values(ascending=False),
            "the model's own importance (impurity decrease)",
        )
    if Y is None:
        raise ValueError("the model has no feature importances of its own: pass Y to permute")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), size=min(n_samples, len(X)), replace=False))
    Xs = X.iloc[rows].reset_index(drop=True)
    Ys = np.asarray(Y, dtype=float)[rows]
    values = permutation_importances(model.predict, Xs, Ys, n_repeats=n_repeats, seed=seed)
    return (
        pd.Series(values, index=names, name="importance").sort_values(ascending=False),
        f"RMSE increase when the feature is shuffled ({len(rows)} rows, {n_repeats} shuffles)",
    )
