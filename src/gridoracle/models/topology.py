"""A topology-aware per-line flow model: the DC flows of the state's own topology as inputs.

:class:`~gridoracle.models.lineflows.LineFlowRegressor` learns each (action, line)'s rho from
the injections of states in the topologies it was trained on; a state in another topology (after
earlier actions, with a line out) is outside what it has seen. :class:`TopologyFlowRegressor`
gives each (action, line) model the physics of the topology the state is in after the action:
the DC active flow of that line in the combined topology "state's own + action", computed
exactly from the row's injections and topology vector (:mod:`gridoracle.models.dcflows`, one
cached PTDF per topology met), and the DC flows of the state's own topology. Each (action, line)
is a ridge regression of the line's rho on

- the state's features without its topology and line-status columns (standardized, optionally
  with pairwise products of their first principal components, as ``line_flows``), plus the DC
  loading ``|p_dc| / (sqrt(3) V_n I_max)`` of every line in the state's own topology;
- that line's DC loading after the action, and its square (the AC correction is learned per
  action and line, the topology effect comes from the DC solve).

A pair whose combined topology cuts a load or generator off (a game over in grid2op) is
predicted ``unsafe_value``; so is, with ``cascade``, a pair whose predicted rho trips a line
(above the hard overflow threshold) and whose DC flows after the trips island the grid; a pair
whose trips leave the grid whole is predicted with the DC loadings of the tripped topology.

It needs every line's rho (``generate --targets full``) and the grid (a
:class:`~gridoracle.models.dcflows.TopologyContext`, which :func:`gridoracle.models.train.train`
builds from the dataset's environment and catalogue and passes to ``fit`` as ``context``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from gridoracle.models.dcflows import TopologyContext, topology_context
from gridoracle.models.lineflows import kept_lines, line_rho_blocks

__all__ = ["TopologyFlowRegressor", "context_for_dataset"]

_CONSTANT = 1e-9


def context_for_dataset(ds: Any) -> TopologyContext:
    """The :class:`TopologyContext` of a loaded dataset (its environment is made, then closed)."""
    from gridoracle.grid import make_env

    config = ds.manifest.get("config") or {}
    name = config.get("env")
    if not name:
        raise ValueError(f"dataset {ds.path}: its manifest names no environment")
    env = make_env(name)
    try:
        return topology_context(env, ds.actions, [str(c) for c in ds.X.columns])
    finally:
        env.close()


class TopologyFlowRegressor(RegressorMixin, BaseEstimator):
    """Max rho after each action from per-(action, line) models on the topology's DC flows.

    Parameters
    ----------
    alpha : float, default 1.0
        Ridge penalty on the standardized inputs (the intercept is not penalized).
    quadratic : int, default 12
        Pairwise products of the first ``quadratic`` principal components of the shared inputs.
    line_margin : float or None, default 0.5
        Each action models only the lines whose training rho reached ``(1 - line_margin)`` times
        its max rho in some training state (None: every line).
    dc_square : bool, default True
        Also regress on the square of the line's DC loading after the action.
    interactions : bool, default False
        Also on its products with the line's rho in the state and with its DC loading in the
        state's own topology (how far the AC flow is from the DC one, before the action).
    shared : {"state", "setpoints"}, default "state"
        The state's features in the shared inputs: every one but the topology and line-status
        columns (``"state"``), or only those that do not depend on the topology (generator
        and load set-points, ``"setpoints"``: the flows, rho and reactive powers of the state
        take values never seen in a new topology).
    cascade : bool, default False
        Play grid2op's hard-overflow protection on the predicted rho (see the module docstring).
        Off by default: it raised the cross-validated regret on rte_case14_realistic (the DC
        loadings after the trips are coarser than the learned rho).
    hard_threshold : float, default 2.0
        Rho above which a line trips (grid2op's ``HARD_OVERFLOW_THRESHOLD``).
    unsafe_value : float, default 2.0
        Prediction of a pair that islands the grid (and of an action without a finite target).

    Attributes
    ----------
    context_ : TopologyContext
        The grid and the catalogue (no grid2op object; its caches are not pickled).
    shared_ : ndarray of int
        Columns of ``X`` in the shared inputs (varying, neither topology nor line status).
    coef_ : ndarray of shape (n_shared_inputs, n_columns)
        Weights of the shared inputs (raw scale) of every modelled (action, line).
    dc_coef_ : ndarray of shape (n_terms, n_columns)
        Weights of the column's DC loading (its square, its interactions).
    intercept_ : ndarray of shape (n_columns,)
    col_action_, col_line_ : ndarray of int
        The action and line of each column; ``starts_`` the first column of each action.
    n_outputs_ : int
    """

    requires_line_targets = True
    requires_topology = True
    """:func:`gridoracle.models.train.train` passes ``context=`` (the grid and catalogue)."""

    def __init__(
        self,
        alpha: float = 1.0,
        quadratic: int = 12,
        line_margin: float | None = 0.5,
        dc_square: bool = True,
        interactions: bool = False,
        shared: str = "state",
        cascade: bool = False,
        hard_threshold: float = 2.0,
        unsafe_value: float = 2.0,
    ) -> None:
        self.alpha = alpha
        self.quadratic = quadratic
        self.line_margin = line_margin
        self.dc_square = dc_square
        self.interactions = interactions
        self.shared = shared
        self.cascade = cascade
        self.hard_threshold = hard_threshold
        self.unsafe_value = unsafe_value

    # -- inputs -----------------------------------------------------------------------------------

    def _own_loading(self, X: np.ndarray) -> np.ndarray:
        ctx = self.context_
        own = np.abs(ctx.own_flows(X)) * ctx.grid.mw_to_rho
        return np.nan_to_num(own, nan=0.0)

    def _raw_shared(self, X: np.ndarray) -> np.ndarray:
        return np.concatenate([X[:, self.shared_], self._own_loading(X)], axis=1)

    def _products(self, raw: np.ndarray) -> np.ndarray:
        p = raw @ self.proj_ + self.pshift_
        return p[:, self.pairs_[0]] * p[:, self.pairs_[1]]

    def _design(self, raw: np.ndarray) -> np.ndarray:
        if self.proj_ is None:
            return raw
        return np.concatenate([raw, self._products(raw)], axis=1)

    def _dc_loading(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx = self.context_
        flows, islanded = ctx.flows(X)
        return np.abs(flows) * ctx.grid.mw_to_rho, islanded

    def _dc_terms(self, load: np.ndarray, obs: np.ndarray, own: np.ndarray) -> list[np.ndarray]:
        """The per-column inputs: the line's DC loading after the action (``load``), its
        square, and with ``interactions`` its products with the line's rho in the state
        (``obs``) and its DC loading in the state's own topology (``own``)."""
        terms = [load, load * load] if self.dc_square else [load]
        if self.interactions:
            terms += [load * obs, load * own]
        return terms

    # -- fit --------------------------------------------------------------------------------------

    def fit(
        self, X: Any, y: Any, line_rho: Any = None, context: TopologyContext | None = None
    ) -> TopologyFlowRegressor:
        """Fit on states ``X``, max rho ``y``, every line's rho ``line_rho`` and the grid.

        Parameters
        ----------
        X : array of shape (n_states, n_features)
            Rows of ``Dataset.X`` (the columns ``context`` was built for).
        y : array of shape (n_states, n_actions)
            Max rho per action (only its shape is used: the lines' rho are the targets).
        line_rho : array (n_states, n_actions, n_lines) or n_actions arrays (n_states, n_lines)
            Every line's rho after each action; a pair with a non-finite rho is left out.
        context : TopologyContext
            The grid, the catalogue and the feature columns.
        """
        if line_rho is None or context is None:
            raise ValueError(
                "TopologyFlowRegressor.fit needs line_rho (a dataset generated with --targets "
                "full) and context (see gridoracle.models.topology.context_for_dataset)"
            )
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        n, n_actions = y.shape
        if context.n_actions != n_actions:
            raise ValueError(f"context has {context.n_actions} actions, y has {n_actions}")
        blocks = line_rho_blocks(line_rho, n, n_actions)
        self.context_ = context
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = n_actions
        if self.shared not in ("state", "setpoints"):
            raise ValueError(f"shared {self.shared!r}: expected 'state' or 'setpoints'")
        scale = X.std(axis=0)
        if self.shared == "setpoints":
            candidates = context.setpoint_cols.tolist()
        else:
            skip = set(context.topo_cols.tolist()) | set(context.status_cols.tolist())
            candidates = [i for i in range(X.shape[1]) if i not in skip]
        self.shared_ = np.array([i for i in candidates if scale[i] > _CONSTANT], dtype=np.intp)
        raw = self._raw_shared(X)
        mu, sd = raw.mean(axis=0), raw.std(axis=0)
        sd[sd <= _CONSTANT] = 1.0
        Z = (raw - mu) / sd
        k = min(int(self.quadratic), *Z.shape)  # the SVD has min(n, p) components
        self.proj_: np.ndarray | None = None
        if k > 0:
            vt = np.linalg.svd(Z, full_matrices=False)[2]
            self.proj_ = np.ascontiguousarray(vt[:k].T / sd[:, None])
            self.pshift_ = -mu @ self.proj_
            self.pairs_ = np.triu_indices(k)
            Q = self._products(raw)
            q_mu, q_sd = Q.mean(axis=0), Q.std(axis=0)
            q_sd[q_sd <= _CONSTANT] = 1.0
            Z = np.column_stack([Z, (Q - q_mu) / q_sd])
            mu, sd = np.concatenate([mu, q_mu]), np.concatenate([sd, q_sd])
        load, islanded = self._dc_loading(X)
        obs, own = X[:, context.rho_cols], self._own_loading(X)
        d = Z.shape[1]
        Z1 = np.column_stack([Z, np.ones(n)])
        n_dc = len(self._dc_terms(load[:1, 0, 0], obs[:1, 0], own[:1, 0]))
        pen_z = float(self.alpha) * np.eye(d + 1)
        pen_z[-1, -1] = 0.0
        coefs, dcs, intercepts, actions, lines_, starts = [], [], [], [], [], []
        width = 0
        with threadpool_limits(limits=1, user_api="blas"):
            gram = Z1.T @ Z1
            for a, block in enumerate(blocks):
                r = np.asarray(block, dtype=np.float64)
                ok = np.isfinite(r).all(axis=1) & ~islanded[:, a]
                starts.append(width)
                if not ok.any():
                    coefs.append(np.zeros((d, 1)))
                    dcs.append(np.zeros((n_dc, 1)))
                    intercepts.append(np.array([float(self.unsafe_value)]))
                    actions.append([a])
                    lines_.append([-1])
                    width += 1
                    continue
                kept = kept_lines(r[ok], self.line_margin)
                Zo = Z1[ok]
                g = gram if ok.all() else gram - Z1[~ok].T @ Z1[~ok]
                rhs_z = Zo.T @ r[ok][:, kept]
                for c, line in enumerate(kept):
                    terms = self._dc_terms(load[ok, a, line], obs[ok, line], own[ok, line])
                    f = np.column_stack(terms)
                    cz = Zo.T @ f
                    full = np.block([[g + pen_z, cz], [cz.T, f.T @ f + 1e-6 * np.eye(n_dc)]])
                    rhs = np.concatenate([rhs_z[:, c], f.T @ r[ok][:, line]])
                    w = np.linalg.solve(full, rhs)
                    coefs.append(w[:d, None])
                    intercepts.append(w[d : d + 1])
                    dcs.append(w[d + 1 :, None])
                    actions.append([a])
                    lines_.append([int(line)])
                width += len(kept)
        w_std = np.concatenate(coefs, axis=1)
        coef = w_std / sd[:, None]
        self.coef_ = np.ascontiguousarray(coef)
        self.intercept_ = np.concatenate(intercepts) - mu @ coef
        self.dc_coef_ = np.concatenate(dcs, axis=1)
        self.col_action_ = np.concatenate(actions).astype(np.intp)
        self.col_line_ = np.concatenate(lines_).astype(np.intp)
        self.starts_ = np.asarray(starts, dtype=np.intp)
        return self

    # -- predict ----------------------------------------------------------------------------------

    def _columns(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted rho of every modelled (action, line) column, and the islanded pairs."""
        cols = self._design(self._raw_shared(X)) @ self.coef_
        cols += self.intercept_
        load, islanded = self._dc_loading(X)
        line = np.maximum(self.col_line_, 0)
        col_load = load[:, self.col_action_, line]
        terms = self._dc_terms(
            col_load, X[:, self.context_.rho_cols][:, line], self._own_loading(X)[:, line]
        )
        for w, term in zip(self.dc_coef_, terms, strict=True):
            cols += w * term
        return cols, islanded

    def predict(self, X: Any) -> np.ndarray:
        """Predicted max rho of every action, shape (n_states, n_actions)."""
        check_is_fitted(self, "coef_")
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {arr.shape}; the model takes {self.n_features_in_} features"
            )
        cols, islanded = self._columns(arr)
        out = np.maximum.reduceat(cols, self.starts_, axis=1)
        if self.cascade:
            self._play_trips(arr, cols, out, islanded)
        out[islanded] = float(self.unsafe_value)
        return out

    def _play_trips(
        self, X: np.ndarray, cols: np.ndarray, out: np.ndarray, islanded: np.ndarray
    ) -> None:
        """Pairs whose predicted rho trips lines: DC loadings after the trips (in place)."""
        over = cols > float(self.hard_threshold)
        rows, cidx = np.nonzero(over & ~islanded[:, self.col_action_])
        if rows.size == 0:
            return
        ctx = self.context_
        g = ctx.grid
        pairs: dict[tuple[int, int], list[int]] = {}
        for r, c in zip(rows.tolist(), cidx.tolist(), strict=True):
            pairs.setdefault((r, int(self.col_action_[c])), []).append(int(self.col_line_[c]))
        topo_rows = np.rint(X[:, ctx.topo_cols]).astype(np.int8)
        inj = ctx.injections(X)
        for (r, a), tripped in pairs.items():
            topo = ctx.after_actions(topo_rows[r])[a].copy()
            cut = np.asarray(tripped, dtype=np.intp)
            for _ in range(g.n_line):
                topo[g.line_or_pos[cut]] = -1
                topo[g.line_ex_pos[cut]] = -1
                M, isl = g.matrix(topo)
                if isl:
                    islanded[r, a] = True
                    break
                rho = np.abs(M @ inj[r]) * g.mw_to_rho
                cut = np.flatnonzero(rho > float(self.hard_threshold))
                if cut.size == 0:
                    out[r, a] = float(rho.max())
                    break
