"""How good are predictions of max rho, and the actions *chosen* with them: pure metric functions.

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
    - **top-k recall** (k = 1, 5, 10, 20) = share of states where one of the k lowest predictions
      is a true best (within 1e-6). k larger than the number of actions counts all of them.
    - **regret after screening** (``screened{k}_regret``, k as above): the k actions of lowest
      predicted max rho are simulated exactly and the best of them is played; its regret is
      min of their true max rho (penalized as above) − the true best (what an agent that
      screens with the model gets; k = 1 is the regret).
    - **p95 regret**: NumPy's default (linear) percentile.
    - **unsafe choice rate**: share of states whose chosen action diverged or was illegal;
      **chosen overload rate**: share whose chosen action leaves max rho > 1 (or diverges);
      **best overload rate**: share where even the best action leaves max rho > 1.
    - with ``current_max_rho``: **mean gain vs current** = mean of (current max rho − true max rho
      of the chosen action), and **worse than current rate**.
    - **overload** precision / recall / F1 per (state, action) pair with a finite true target:
      positive means max rho > 1.0; a NaN prediction counts as predicting an overload. Precision
      (recall) is None when nothing is predicted (true) positive; F1 = 2TP / (2TP + FP + FN).

The same functions score a saved model in :func:`gridoracle.models.evaluate.evaluate`, beside the
do-nothing and per-action-mean baselines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridoracle.models.zoo import UNSAFE_RHO

__all__ = [
    "DANGER_RHO",
    "DONOTHING",
    "OVERLOAD_RHO",
    "TIE_TOL",
    "TOP_K",
    "current_max_rho",
    "decision_metrics",
    "overload_metrics",
    "per_state_decisions",
    "regression_metrics",
    "state_subsets",
    "summary",
]

OVERLOAD_RHO = 1.0
"""A line is overloaded above this rho."""
TIE_TOL = 1e-6
"""Two true max rho closer than this are tied (both are "the best")."""
TOP_K = (1, 5, 10, 20)
DANGER_RHO = 0.9
"""A state is *dangerous* when doing nothing leaves max rho above this."""
DONOTHING = "donothing"
SUBSETS = ("dangerous", "non_reference")
"""The subsets of states of :func:`state_subsets`."""
_RHO_COLUMN = re.compile(r"^rho_\d+$")


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
    k : sequence of int, default (1, 5, 10, 20)
        The k of the ``top{k}_recall`` and ``screened{k}_regret`` entries.
    unsafe_value : float, default 2.0
        Least penalty value of choosing a diverged or illegal pair.
    tol : float, default 1e-6
        Tolerance of ties with the true best.

    Returns
    -------
    dict
        ``states``, ``states_without_safe_action``, ``top1_accuracy``, ``mean_regret``,
        ``median_regret``, ``p95_regret``, ``max_regret``, ``top{k}_recall``,
        ``screened{k}_regret``,
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
        out[f"screened{int(kk)}_regret"] = _mean(reached - d.best)
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


def state_subsets(
    X: pd.DataFrame, Y: pd.DataFrame, meta: pd.DataFrame | None = None
) -> dict[str, np.ndarray]:
    """Boolean masks of the states the decision metrics are also reported on.

    ``dangerous``
        Doing nothing leaves max rho above :data:`DANGER_RHO` (the true target of
        ``donothing``; the current max rho of the ``rho_`` features without that action).
    ``non_reference``
        The state is not in the reference topology with every line in service: when ``meta``
        has the columns ``base_actions`` or ``line_out`` (states made in other topologies or
        with a line out), a non-empty value there; else a ``topo_`` feature other than 1 or a
        ``line_status_`` feature of 0.

    A subset that cannot be told (no such column) is absent.

    Examples
    --------
    >>> X = pd.DataFrame({"topo_0": [1, 2], "line_status_0": [1, 1], "rho_0": [0.95, 0.5]})
    >>> masks = state_subsets(X, pd.DataFrame({"donothing": [0.95, 0.5]}))
    >>> masks["dangerous"].tolist(), masks["non_reference"].tolist()
    ([True, False], [False, True])
    """
    masks: dict[str, np.ndarray] = {}
    if DONOTHING in Y.columns:
        masks["dangerous"] = Y[DONOTHING].to_numpy(dtype=np.float64) > DANGER_RHO
    else:
        current = current_max_rho(X)
        if current is not None:
            masks["dangerous"] = current > DANGER_RHO
    marked = [c for c in ("base_actions", "line_out") if meta is not None and c in meta.columns]
    if marked:
        assert meta is not None
        masks["non_reference"] = np.logical_or.reduce([_marked(meta[c]) for c in marked])
        return masks
    topo = [c for c in X.columns if str(c).startswith("topo_")]
    status = [c for c in X.columns if str(c).startswith("line_status_")]
    if topo or status:
        other = np.zeros(len(X), dtype=bool)
        if topo:
            other |= (X[topo].to_numpy() != 1).any(axis=1)
        if status:
            other |= (X[status].to_numpy() == 0).any(axis=1)
        masks["non_reference"] = other
    return masks


def _marked(column: pd.Series) -> np.ndarray:
    """Rows whose ``base_actions`` / ``line_out`` value says "something changed"."""
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        return np.isfinite(values) & (values >= 0)
    text = column.astype(str).str.strip().str.lower()
    return ~text.isin(["", "[]", "none", "nan", "donothing", "-1"]).to_numpy()


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
    subsets = entry.get("subsets") or {}
    nan = math.nan
    return {
        "rmse": reg.get("rmse", nan),
        "mae": reg.get("mae", nan),
        "r2": reg.get("r2", nan),
        "top1_accuracy": dec.get("top1_accuracy", nan),
        "mean_regret": dec.get("mean_regret", nan),
        "p95_regret": dec.get("p95_regret", nan),
        "top5_recall": dec.get("top5_recall", nan),
        "top10_recall": dec.get("top10_recall", nan),
        "screened5_regret": dec.get("screened5_regret", nan),
        "overload_f1": (dec.get("overload") or {}).get("f1", nan),
        **{
            f"{name}_{key}": (subsets.get(name) or {}).get(key, nan)
            for name in SUBSETS
            for key in ("states", "mean_regret", "top5_recall", "top10_recall")
        },
    }
