"""Per-line flow models: max rho predicted as the max over lines of per-line linear models.

Max rho after an action is a max over lines of ``|I| / limit``, and for a fixed topology each
line's loading is close to linear in the injections. :class:`LineFlowRegressor` learns, for every
action, one ridge regression of every line's rho on the standardized state features (all actions
share one Gram matrix, so the fit is a few small linear solves), and predicts the max over the
lines. With ``residual``, a tree ensemble learns what the max of the linear models misses (the
nonlinear part, the pairs that diverge); its prediction is added.

The per-line targets are the dataset's full rho vectors (``gridoracle generate --targets full``):
``fit(X, y, line_rho=...)`` takes them; :func:`gridoracle.models.train.train` passes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

__all__ = ["RESIDUALS", "LineFlowRegressor", "kept_lines", "line_rho_blocks"]

RESIDUALS = ("extra_trees", "hist_gradient_boosting")
"""Values of ``LineFlowRegressor(residual=...)`` (None: the linear models only)."""

_CONSTANT = 1e-9  # a feature whose training standard deviation is below this is left out


def line_rho_blocks(line_rho: Any, n_states: int, n_actions: int) -> list[np.ndarray]:
    """The per-line targets as one ``(n_states, n_lines)`` array per action, checked.

    ``line_rho`` is an array of shape ``(n_states, n_actions, n_lines)`` or a sequence of
    ``n_actions`` arrays of shape ``(n_states, n_lines)`` (as :attr:`Dataset.rho` holds them).
    """
    if isinstance(line_rho, np.ndarray) and line_rho.ndim == 3:
        blocks = [line_rho[:, j, :] for j in range(line_rho.shape[1])]
    else:
        blocks = [np.asarray(b) for b in line_rho]
    if len(blocks) != n_actions:
        raise ValueError(f"line_rho has {len(blocks)} actions, y has {n_actions}")
    widths = {b.shape[1] if b.ndim == 2 else -1 for b in blocks}
    if len(widths) != 1 or -1 in widths or any(b.shape[0] != n_states for b in blocks):
        raise ValueError(f"line_rho: expected {n_actions} arrays of shape ({n_states}, n_lines)")
    return blocks


def kept_lines(r: np.ndarray, line_margin: float | None) -> np.ndarray:
    """The lines (columns of one action's training rho ``r``, shape (n_states, n_lines)) whose
    rho reached ``(1 - line_margin)`` times the max over lines in some state; None: every line."""
    if line_margin is None:
        return np.arange(r.shape[1])
    near = r >= (1.0 - float(line_margin)) * r.max(axis=1, keepdims=True)
    return np.flatnonzero(near.any(axis=0))


def _make_residual(name: str, params: dict[str, Any], seed: int | None) -> Any:
    if name == "extra_trees":
        from sklearn.ensemble import ExtraTreesRegressor

        p = {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 3, "n_jobs": -1, **params}
        return ExtraTreesRegressor(random_state=seed, **p)
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingRegressor

        from gridoracle.models.peraction import PerActionRegressor

        p = {"max_iter": 50, "max_leaf_nodes": 15, "max_bins": 63, "early_stopping": False}
        p.update(params)
        n_jobs = p.pop("n_jobs", -1)
        return PerActionRegressor(
            HistGradientBoostingRegressor(random_state=seed, **p), n_jobs=n_jobs
        )
    raise ValueError(f"residual {name!r}: expected None or one of {', '.join(RESIDUALS)}")


class LineFlowRegressor(RegressorMixin, BaseEstimator):
    """Max rho after each action = max over lines of per-(action, line) ridge regressions.

    Parameters
    ----------
    alpha : float, default 1e-2
        Ridge penalty on the standardized features (the intercept is not penalized).
    quadratic : int, default 0
        Also regress on the pairwise products (squares included) of the first ``quadratic``
        principal components of the standardized features (``k (k + 1) / 2`` more inputs,
        standardized): the flows' curvature in the injections (AC losses, voltages).
    components : int or None, default None
        Regress on the first ``components`` principal components of the standardized features
        instead of on every feature (fewer weights per line: faster predictions on big grids).
    line_margin : float or None, default None
        Each action models only the lines whose training rho reached ``(1 - line_margin)`` times
        that action's max rho in some training state (a relative margin: the others never come
        near deciding the max); None: every line. Fewer lines, faster predictions.
    residual : {None, "extra_trees", "hist_gradient_boosting"}, default None
        A model of ``y - max of the linear models`` on the same features, added to the
        prediction.
    residual_params : dict, optional
        Parameters of the residual model.
    fill_value : float, default 2.0
        Prediction of an action without a single finite training target.
    random_state : int, optional
        Seed of the residual model.

    Attributes
    ----------
    features_ : ndarray of int
        The features that vary in the training states (the others are left out).
    coef_ : ndarray of shape (len(features_) + n_products, n_columns)
        The linear models of every kept (action, line), on the raw varying features then the
        products of principal components. :meth:`predict` uses their float32 copy
        (``coef32_``, ``intercept32_``): half the memory read per state.
    proj_ : ndarray of shape (len(features_), quadratic) or None
        Raw varying features → principal components (with ``pshift_``).
    intercept_ : ndarray of shape (n_columns,)
    starts_ : ndarray of shape (n_actions,)
        First column of each action in ``coef_`` (its lines follow).
    lines_ : list of ndarray
        The lines each action models.
    residual_ : estimator or None
        The fitted residual model.
    n_outputs_ : int
        Number of actions.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> rho = np.abs(np.stack([X @ [1.0, 0, 0], X @ [0, 1.0, 0], X @ [0, 0, 1.0]], 1))[:, None]
    >>> rho = np.concatenate([rho, 2 * rho], axis=1)     # (50 states, 2 actions, 3 lines)
    >>> model = LineFlowRegressor().fit(X, rho.max(axis=2), line_rho=rho)
    >>> model.predict(X).shape
    (50, 2)
    """

    requires_line_targets = True
    """:func:`gridoracle.models.train.train` passes the dataset's full rho as ``line_rho``."""

    def __init__(
        self,
        alpha: float = 1e-2,
        quadratic: int = 0,
        components: int | None = None,
        line_margin: float | None = None,
        residual: str | None = None,
        residual_params: dict[str, Any] | None = None,
        fill_value: float = 2.0,
        random_state: int | None = None,
    ) -> None:
        self.alpha = alpha
        self.quadratic = quadratic
        self.components = components
        self.line_margin = line_margin
        self.residual = residual
        self.residual_params = residual_params
        self.fill_value = fill_value
        self.random_state = random_state

    def fit(self, X: Any, y: Any, line_rho: Any = None) -> LineFlowRegressor:
        """Fit on states ``X``, max rho targets ``y`` and every line's rho ``line_rho``.

        Parameters
        ----------
        X : array of shape (n_states, n_features)
        y : array of shape (n_states, n_actions)
            Max rho per action, finite (NaN already filled, see
            :func:`gridoracle.models.zoo.fill_targets`): the residual model's target.
        line_rho : array of shape (n_states, n_actions, n_lines), or n_actions arrays
            Every line's rho after each action; a pair with a non-finite rho is left out of that
            action's linear models (it diverged).
        """
        if line_rho is None:
            raise ValueError(
                "LineFlowRegressor.fit needs line_rho, every line's rho after each action "
                "(a dataset generated with --targets full)"
            )
        if self.residual is not None and self.residual not in RESIDUALS:
            raise ValueError(
                f"residual {self.residual!r}: expected None or one of {', '.join(RESIDUALS)}"
            )
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        n, n_actions = y.shape
        blocks = line_rho_blocks(line_rho, n, n_actions)
        self.n_outputs_ = n_actions
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        self.features_ = np.flatnonzero(scale > _CONSTANT)
        mu, sd = mean[self.features_], scale[self.features_]
        Z = (X[:, self.features_] - mu) / sd
        # the SVD of an (n, p) matrix has min(n, p) components: fewer states than components
        # asked for leaves only that many
        rank = min(Z.shape)
        k = min(int(self.quadratic), rank)
        r = None if self.components is None else min(int(self.components), rank)
        self.proj_: np.ndarray | None = None
        self.lin_proj_: np.ndarray | None = None
        vt = np.linalg.svd(Z, full_matrices=False)[2] if k > 0 or r is not None else None
        if r is not None:
            # regress on the first r principal components instead of every feature
            assert vt is not None
            self.lin_proj_ = np.ascontiguousarray(vt[:r].T / sd[:, None])
            self.lin_shift_ = -mu @ self.lin_proj_
            L = X[:, self.features_] @ self.lin_proj_ + self.lin_shift_
            mu, sd = L.mean(axis=0), L.std(axis=0)
            sd[sd <= _CONSTANT] = 1.0
            Z = (L - mu) / sd
        if k > 0:
            # pairwise products of the first k principal components of the standardized features
            assert vt is not None
            base_sd = scale[self.features_]
            self.proj_ = np.ascontiguousarray(vt[:k].T / base_sd[:, None])
            self.pshift_ = -mean[self.features_] @ self.proj_
            self.pairs_ = np.triu_indices(k)
            Q = self._products(X[:, self.features_])
            q_mean, q_scale = Q.mean(axis=0), Q.std(axis=0)
            q_scale[q_scale <= _CONSTANT] = 1.0
            Z = np.column_stack([Z, (Q - q_mean) / q_scale])
            mu = np.concatenate([mu, q_mean])
            sd = np.concatenate([sd, q_scale])
        Z1 = np.column_stack([Z, np.ones(n)])
        penalty = float(self.alpha) * np.eye(Z1.shape[1])
        penalty[-1, -1] = 0.0
        with threadpool_limits(limits=1, user_api="blas"):
            gram = Z1.T @ Z1
            coefs, intercepts, starts, lines = [], [], [], []
            width = 0
            for block in blocks:
                r = np.asarray(block, dtype=np.float64)
                ok = np.isfinite(r).all(axis=1)
                starts.append(width)
                if not ok.any():
                    coefs.append(np.zeros((Z.shape[1], 1)))
                    intercepts.append(np.array([float(self.fill_value)]))
                    lines.append(np.zeros(0, dtype=np.intp))
                    width += 1
                    continue
                kept = kept_lines(r[ok], self.line_margin)
                target = r[ok][:, kept]
                g = gram if ok.all() else gram - Z1[~ok].T @ Z1[~ok]
                w = np.linalg.solve(g + penalty, Z1[ok].T @ target)
                coefs.append(w[:-1])
                intercepts.append(w[-1])
                lines.append(kept)
                width += len(kept)
        w_std = np.concatenate(coefs, axis=1)  # on the standardized design
        coef = np.ascontiguousarray(w_std / sd[:, None])
        self.coef_ = coef
        self.intercept_ = np.concatenate(intercepts) - mu @ coef
        # predictions in float32: half the memory traffic of the weights (a state's prediction is
        # one vector-matrix product), 1e-5 at most from float64 on rte_case14_realistic
        self.coef32_ = coef.astype(np.float32)
        self.intercept32_ = self.intercept_.astype(np.float32)
        self.starts_ = np.asarray(starts, dtype=np.intp)
        self.lines_ = lines
        self.residual_ = None
        if self.residual is not None:
            model = _make_residual(
                self.residual, dict(self.residual_params or {}), self.random_state
            )
            model.fit(X, y - self._linear(X))
            if "n_jobs" in model.get_params(deep=False):
                model.set_params(n_jobs=None)  # predict in one thread: reproducible, fast
            self.residual_ = model
        return self

    def _products(self, kept: np.ndarray) -> np.ndarray:
        """Pairwise products of the principal components of the kept raw features."""
        assert self.proj_ is not None
        p = kept @ self.proj_ + self.pshift_
        return p[:, self.pairs_[0]] * p[:, self.pairs_[1]]

    def _design(self, X: np.ndarray) -> np.ndarray:
        kept = X[:, self.features_]
        linear = kept if self.lin_proj_ is None else kept @ self.lin_proj_ + self.lin_shift_
        if self.proj_ is None:
            return linear
        return np.concatenate([linear, self._products(kept)], axis=1)

    def _flows(self, X: np.ndarray) -> np.ndarray:
        flows = self._design(X) @ self.coef_
        flows += self.intercept_
        return flows

    def _linear(self, X: np.ndarray) -> np.ndarray:
        flows = self._design(X).astype(np.float32) @ self.coef32_
        flows += self.intercept32_
        return np.maximum.reduceat(flows, self.starts_, axis=1).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted max rho of every action, shape (n_states, n_actions)."""
        check_is_fitted(self, "coef_")
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {arr.shape}; the model takes {self.n_features_in_} features"
            )
        out = self._linear(arr)
        if self.residual_ is not None:
            out += np.asarray(self.residual_.predict(arr), dtype=np.float64).reshape(out.shape)
        return out

    def line_predictions(self, X: Any) -> list[np.ndarray]:
        """The linear prediction of each modelled line, one ``(n_states, n_lines_kept)`` array per
        action (the lines are :attr:`lines_`), before the max and the residual."""
        check_is_fitted(self, "coef_")
        flows = self._flows(np.asarray(X, dtype=np.float64))
        ends = [*self.starts_[1:], flows.shape[1]]
        return [flows[:, s:e] for s, e in zip(self.starts_, ends, strict=True)]
