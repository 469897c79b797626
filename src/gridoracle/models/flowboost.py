"""One gradient-boosted model for every (state, action) pair, on the DC physics after the action.

:class:`~gridoracle.models.topology.TopologyFlowRegressor` learns the AC correction of each
(action, line) separately: its weights are fitted on the topologies of the training states and
do not carry over to a state in a topology never seen there (after earlier actions). This model
learns one correction for all actions, lines and topologies, from inputs whose meaning does not
depend on the topology. For a state in its own topology (with its lines out) and an action, per
line, in rho units (``|p| / (sqrt(3) V_n I_max)``):

``carry``
    ``sqrt(p_a**2 + q**2)``: the DC active flow after the action ``p_a`` with the reactive part
    that the state's own AC loading leaves over its DC flow, ``q**2 = max(s**2 - p_0**2, 0)``
    (``s``: the state's rho as a flow, ``p_0``: its DC flow before the action);
``shift``
    the state's rho plus the change of the line's DC loading, ``rho + |p_a| - |p_0|``;
``dc_after``, ``dc_before``, ``rho``
    the DC loadings after and before the action, and the line's rho in the state.

The DC flows are exact for any topology (:mod:`gridoracle.models.dcflows`, one PTDF per topology
met, from the row's injections and topology vector). Each pair's row holds those five values of
every line (or of the ``top_lines`` lines with the highest ``max(carry, shift)``), the maxima of
the first three over the lines, and the action (a categorical feature: the correction may differ
per action). One ``HistGradientBoostingRegressor`` learns max rho from them over every
pair of ``max_states`` training states (a seeded sample); a pair that diverged or was illegal
learns ``unsafe_value``, and a pair whose topology cuts a load or a generator off is predicted
``unsafe_value`` without the model.

It takes only max rho (no ``--targets full``) and the grid (a
:class:`~gridoracle.models.dcflows.TopologyContext`, which
:func:`gridoracle.models.train.train` passes to ``fit`` as ``context``); the rows need the
``rho_*``, ``topo_*``, ``gen_p_*`` and ``load_p_*`` features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from gridoracle.models.dcflows import TopologyContext

__all__ = ["FlowBoostRegressor"]

#: categories of a HistGradientBoostingRegressor categorical feature (its max_bins)
_MAX_CATEGORIES = 255
#: rows below which prediction runs in one thread
_FEW_ROWS = 20_000


class FlowBoostRegressor(RegressorMixin, BaseEstimator):
    """Max rho after each action: gradient boosting over (state, action) pairs on DC physics.

    Parameters
    ----------
    top_lines : int or None, default None
        None: each pair's row holds the five values of every line, in line order. An int ``k``:
        only those of the ``k`` lines with the highest ``max(carry, shift)``, highest first, each
        with its line id (a narrower row for a big grid; on rte_case14_realistic, k = 6 doubled
        the held-out regret in other topologies).
    max_states : int or None, default 12000
        Training states sampled (seeded) for the fit; None: all of them.
    max_iter, learning_rate, max_leaf_nodes, l2_regularization :
        Of the ``HistGradientBoostingRegressor`` (no early stopping: deterministic).
    unsafe_value : float, default 2.0
        Target of a pair that diverged or was illegal; prediction of an islanded pair.
    chunk : int, default 2000
        States whose pairs are predicted at a time (bounds the memory of the rows).
    random_state : int or None
        Seed of the sample of states and of the boosting.

    Attributes
    ----------
    context_ : TopologyContext
    booster_ : HistGradientBoostingRegressor
    n_outputs_ : int
    n_features_in_ : int
    """

    requires_topology = True
    """:func:`gridoracle.models.train.train` passes ``context=`` (the grid and catalogue)."""

    def __init__(
        self,
        top_lines: int | None = None,
        max_states: int | None = 12000,
        max_iter: int = 300,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 63,
        l2_regularization: float = 0.0,
        unsafe_value: float = 2.0,
        chunk: int = 2000,
        random_state: int | None = None,
    ) -> None:
        self.top_lines = top_lines
        self.max_states = max_states
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.unsafe_value = unsafe_value
        self.chunk = chunk
        self.random_state = random_state

    # -- inputs -----------------------------------------------------------------------------------

    def _rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The boosting rows of every (state, action) pair of ``X``, shape (n * n_actions, width),
        float32, and the islanded pairs (n, n_actions)."""
        ctx = self.context_
        m2r = ctx.grid.mw_to_rho
        flows, islanded = ctx.flows(X)
        p_a = np.nan_to_num(flows)
        p_0 = np.nan_to_num(ctx.own_flows(X))
        rho = X[:, ctx.rho_cols]
        n, n_actions, n_line = p_a.shape
        s = rho / m2r  # the state's AC loading as a flow (MW-equivalent)
        q2 = np.maximum(s * s - p_0 * p_0, 0.0)
        dc_after = np.abs(p_a) * m2r
        dc_before = (np.abs(p_0) * m2r)[:, None, :]
        carry = np.sqrt(p_a * p_a + q2[:, None, :]) * m2r
        shift = rho[:, None, :] + dc_after - dc_before
        shape = (n, n_actions, n_line)
        values = (carry, shift, dc_after, np.broadcast_to(dc_before, shape),
                  np.broadcast_to(rho[:, None, :], shape))  # fmt: skip
        if self.top_lines is None:
            parts = list(values)
        else:
            k = min(int(self.top_lines), n_line)
            order = np.argsort(-np.maximum(carry, shift), axis=2, kind="stable")[:, :, :k]
            slots = [np.take_along_axis(v, order, axis=2) for v in values]
            slots.append(order.astype(np.float64))
            parts = [np.stack(slots, axis=3).reshape(n, n_actions, -1)]
        parts += [v.max(axis=2, keepdims=True) for v in (carry, shift, dc_after)]
        action = np.broadcast_to(np.arange(n_actions, dtype=np.float64), (n, n_actions))
        parts.append(action[..., None])
        rows = np.concatenate(parts, axis=2).astype(np.float32)
        return rows.reshape(n * n_actions, -1), islanded

    # -- fit --------------------------------------------------------------------------------------

    def fit(
        self, X: Any, y: Any, line_rho: Any = None, context: TopologyContext | None = None
    ) -> FlowBoostRegressor:
        """Fit on states ``X`` and max rho ``y`` (NaN or non-finite: ``unsafe_value``).

        Parameters
        ----------
        X : array of shape (n_states, n_features)
            Rows of ``Dataset.X`` (the columns ``context`` was built for).
        y : array of shape (n_states, n_actions)
        line_rho : ignored
            Accepted so that :func:`gridoracle.models.train.train` may pass it.
        context : TopologyContext
            The grid, the catalogue and the feature columns.
        """
        if context is None:
            raise ValueError(
                "FlowBoostRegressor.fit needs context (see "
                "gridoracle.models.topology.context_for_dataset)"
            )
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        n, n_actions = y.shape
        if context.n_actions != n_actions:
            raise ValueError(f"context has {context.n_actions} actions, y has {n_actions}")
        if self.top_lines is not None and int(self.top_lines) < 1:
            raise ValueError(f"top_lines must be at least 1, got {self.top_lines}")
        self.context_ = context
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = n_actions
        rng = np.random.default_rng(self.random_state)
        take = np.arange(n)
        if self.max_states is not None and n > int(self.max_states):
            take = np.sort(rng.choice(n, size=int(self.max_states), replace=False))
        rows, islanded = self._rows(X[take])
        target = np.where(np.isfinite(y[take]), y[take], float(self.unsafe_value)).reshape(-1)
        keep = ~islanded.reshape(-1)
        categorical = [rows.shape[1] - 1] if n_actions <= _MAX_CATEGORIES else None
        self.booster_ = HistGradientBoostingRegressor(
            max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes),
            l2_regularization=float(self.l2_regularization),
            categorical_features=categorical,
            early_stopping=False,
            random_state=int(rng.integers(2**31 - 1)),
        )
        self.booster_.fit(rows[keep], target[keep])
        return self

    # -- predict ----------------------------------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """Predicted max rho of every action, shape (n_states, n_actions)."""
        check_is_fitted(self, "booster_")
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {arr.shape}; the model takes {self.n_features_in_} features"
            )
        out = np.empty((arr.shape[0], self.n_outputs_))
        step = max(int(self.chunk), 1)
        for start in range(0, arr.shape[0], step):
            part = arr[start : start + step]
            rows, islanded = self._rows(part)
            # a few rows (an agent's step): one thread; the trees' OpenMP start-up costs more
            # than the rows (8.4 -> 5.6 ms for one state of 126 actions, 300 trees)
            threads = 1 if rows.shape[0] < _FEW_ROWS else None
            with threadpool_limits(limits=threads, user_api="openmp"):
                pred = self.booster_.predict(rows).reshape(len(part), self.n_outputs_)
            pred[islanded] = float(self.unsafe_value)
            out[start : start + step] = pred
        return out
