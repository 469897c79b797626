"""The model zoo: named multi-output regressors "grid state → max rho after each action".

Every model follows the scikit-learn estimator API: ``fit(X, Y)`` with ``X`` of shape
``(n_states, n_features)`` and ``Y`` of shape ``(n_states, n_actions)``, ``predict(X)`` of shape
``(n_states, n_actions)``. :func:`make_model` builds one by name, seeded.

========================  ========================================================================
name                      estimator (defaults chosen so that the demo dataset trains in seconds)
========================  ========================================================================
``mean``                  ``DummyRegressor``: the per-action mean of the training targets
``ridge``                 ``StandardScaler`` + ``Ridge(alpha=100)``
``random_forest``         ``RandomForestRegressor`` (100 trees, depth ≤ 12, ≥ 3 states per leaf,
                          half the features at each split)
``extra_trees``           ``ExtraTreesRegressor`` (100 trees, depth ≤ 12, ≥ 3 states per leaf)
``hist_gradient_boosting`` one ``HistGradientBoostingRegressor`` per action (50 iterations, 15
                          leaves, 63 bins), see :class:`PerActionRegressor`
``mlp``                   ``StandardScaler`` + ``MLPRegressor`` (256, 256; early stopping), targets
                          standardized (``TransformedTargetRegressor``)
``line_flows``            :class:`~gridoracle.models.lineflows.LineFlowRegressor`: per action, a
                          ridge regression (alpha 1) of every line's rho on the standardized
                          features and the pairwise products of their first 12 principal
                          components, for the lines that reached half the action's max rho
                          in training; max rho = the max over lines (needs ``--targets full``)
``line_flows_trees``      the same, plus extra trees (100, depth ≤ 12) on its residual
``topology_flows``        :class:`~gridoracle.models.topology.TopologyFlowRegressor`: the same
                          per-(action, line) ridge (alpha 100), without the topology and
                          line-status features, plus the DC flows of the topology the state is
                          in after the action (exact PTDF of that topology, from the row's
                          injections) and their products with the line's rho: states in
                          topologies never seen in training (needs ``--targets full``)
``flow_boost``            :class:`~gridoracle.models.flowboost.FlowBoostRegressor`: one
                          gradient-boosted model (300 iterations, 63 leaves) for every
                          (state, action) pair of 12,000 sampled states, on the DC flows after
                          the action, the state's AC loading carried over them, the action as a
                          category (max rho only; the grid is taken from the dataset)
========================  ========================================================================

The ``line_flows`` models learn every line's rho (:data:`LINE_MODEL_NAMES`): they need a dataset
generated with ``--targets full``; :func:`gridoracle.models.train.train` refuses them on another
one, with a message naming the option.

:class:`ActionConditionedRegressor` (name ``action_conditioned``, listed in
:data:`EXTRA_MODEL_NAMES`, not in :data:`MODEL_NAMES`) is the other formulation: one row per
(state, action) pair, the action as a categorical feature, one gradient-boosting model for all
actions. It lost to the per-action models on the demo dataset (see README, "Models"), so the zoo
that ``gridoracle compare --models all`` trains leaves it out; it can still be trained by name.

Targets that could not be computed (NaN: the power flow diverged, or the action was illegal) are
not dropped: :func:`fill_targets` replaces them with :data:`UNSAFE_RHO` (2.0, the usual hard
overflow threshold, at or above every max rho a surviving grid shows), so that a model learns to
rank a diverging action last. Metrics are computed on finite true targets only (see
:mod:`gridoracle.models.metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from gridoracle.errors import InvalidOption
from gridoracle.models.flowboost import FlowBoostRegressor
from gridoracle.models.lineflows import LineFlowRegressor
from gridoracle.models.peraction import PerActionRegressor
from gridoracle.models.topology import TopologyFlowRegressor

__all__ = [
    "ALL_MODEL_NAMES",
    "EXTRA_MODEL_NAMES",
    "LINE_MODEL_NAMES",
    "MODEL_NAMES",
    "TOPOLOGY_MODEL_NAMES",
    "UNSAFE_RHO",
    "ActionConditionedRegressor",
    "FlowBoostRegressor",
    "LineFlowRegressor",
    "PerActionRegressor",
    "TopologyFlowRegressor",
    "default_params",
    "fill_targets",
    "make_model",
    "needs_line_targets",
    "parse_model_list",
    "serial_predictions",
]

MODEL_NAMES: tuple[str, ...] = (
    "mean",
    "ridge",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "mlp",
    "line_flows",
    "line_flows_trees",
    "topology_flows",
    "flow_boost",
)
"""The zoo: every name :func:`make_model` builds and ``--models all`` trains."""

LINE_MODEL_NAMES: tuple[str, ...] = ("line_flows", "line_flows_trees", "topology_flows")
"""Models that learn every line's rho: they need a dataset generated with ``--targets full``."""

TOPOLOGY_MODEL_NAMES: tuple[str, ...] = ("topology_flows", "flow_boost")
"""Models that also take the grid (:func:`gridoracle.models.topology.context_for_dataset`):
:func:`gridoracle.models.train.train` builds it from the dataset's environment and catalogue."""

EXTRA_MODEL_NAMES: tuple[str, ...] = ("action_conditioned",)
"""Models :func:`make_model` builds by name but the zoo leaves out (they did not win)."""

ALL_MODEL_NAMES: tuple[str, ...] = MODEL_NAMES + EXTRA_MODEL_NAMES

UNSAFE_RHO = 2.0
"""Training value of a target that could not be computed (diverged or illegal pair)."""

# Defaults of the core estimator of each model; ``make_model(name, **params)`` overrides them.
# Sizes measured on the demo dataset (1,150 training states x 141 features x 100 actions, 2 cores):
# every model fits in under ~10 s. Trees keep >= 3 states per leaf: a multi-output tree stores one
# value per action in every node, and leaves of 1 state made the random forest file 107 MB (35 MB
# with 3) for the same test RMSE and regret.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "mean": {"strategy": "mean"},
    "ridge": {"alpha": 100.0},
    "random_forest": {
        "n_estimators": 100,
        "max_depth": 12,
        "min_samples_leaf": 3,
        "max_features": 0.5,
        "n_jobs": -1,
    },
    "extra_trees": {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 3, "n_jobs": -1},
    "hist_gradient_boosting": {
        "max_iter": 50,
        "max_leaf_nodes": 15,
        "max_bins": 63,
        "learning_rate": 0.1,
        "early_stopping": False,
        "n_jobs": -1,  # of the per-action wrapper: actions are fitted in parallel
    },
    "mlp": {
        "hidden_layer_sizes": (256, 256),
        "alpha": 1e-3,
        "early_stopping": True,
        "max_iter": 500,
    },
    "action_conditioned": {"max_iter": 300, "learning_rate": 0.2, "max_leaf_nodes": 31},
    # chosen by cross-validation on the training chronic of rte_case14_realistic (README, "Models")
    "line_flows": {"alpha": 1.0, "quadratic": 12, "line_margin": 0.5},
    "line_flows_trees": {
        "alpha": 1.0,
        "quadratic": 12,
        "line_margin": 0.5,
        "residual": "extra_trees",
    },
    # the best mean cross-validated regret over the two training chronics of
    # rte_case14_realistic with --topologies 2 --outages 1, folds by topology (README, "Models")
    "topology_flows": {
        "alpha": 100.0,
        "quadratic": 12,
        "line_margin": 0.5,
        "interactions": True,
        "cascade": False,
    },
    "flow_boost": {
        "top_lines": None,
        "max_states": 12000,
        "max_iter": 300,
        "learning_rate": 0.1,
        "max_leaf_nodes": 63,
    },
}

# The class whose constructor takes the parameters of each model (for checking their names);
# action_conditioned: ActionConditionedRegressor (defined below).
_PARAM_OWNER: dict[str, type] = {
    "mean": DummyRegressor,
    "ridge": Ridge,
    "random_forest": RandomForestRegressor,
    "extra_trees": ExtraTreesRegressor,
    "hist_gradient_boosting": HistGradientBoostingRegressor,
    "mlp": MLPRegressor,
    "line_flows": LineFlowRegressor,
    "line_flows_trees": LineFlowRegressor,
    "topology_flows": TopologyFlowRegressor,
    "flow_boost": FlowBoostRegressor,
}
_WRAPPER_PARAMS: dict[str, tuple[str, ...]] = {"hist_gradient_boosting": ("n_jobs",)}


def fill_targets(Y: pd.DataFrame | np.ndarray, fill_value: float = UNSAFE_RHO) -> np.ndarray:
    """Training targets: a float64 copy of ``Y`` with every non-finite value set to ``fill_value``.

    Parameters
    ----------
    Y : DataFrame or ndarray of shape (n_states, n_actions)
        Max rho per action, NaN where the pair diverged or was illegal.
    fill_value : float, default :data:`UNSAFE_RHO`
        The value a model learns for those pairs.

    Returns
    -------
    ndarray of shape (n_states, n_actions)

    Examples
    --------
    >>> fill_targets(np.array([[0.5, np.nan]]))
    array([[0.5, 2. ]])
    """
    arr = np.array(Y, dtype=np.float64, copy=True)
    arr[~np.isfinite(arr)] = fill_value
    return arr


def needs_line_targets(name: str) -> bool:
    """Whether model ``name`` learns every line's rho (a dataset with ``--targets full``)."""
    return name in LINE_MODEL_NAMES


def default_params(name: str) -> dict[str, Any]:
    """The default parameters of model ``name`` (a copy), as :func:`make_model` uses them."""
    _check_name(name)
    return dict(_DEFAULTS[name])


def _check_name(name: str) -> None:
    if name not in ALL_MODEL_NAMES:
        raise InvalidOption(f"unknown model {name!r}: expected one of {', '.join(ALL_MODEL_NAMES)}")


def parse_model_list(models: str | Sequence[str]) -> list[str]:
    """``"all"`` → :data:`MODEL_NAMES`; ``"ridge,mlp"`` or a list → those names, checked.

    Raises
    ------
    InvalidOption
        An empty list or an unknown name.

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
        raise InvalidOption(
            "models is empty: give all or names such as ridge,extra_trees", param="models"
        )
    unknown = [m for m in items if m not in ALL_MODEL_NAMES]
    if unknown:
        raise InvalidOption(
            f"unknown model(s) {', '.join(unknown)}: expected all or among "
            f"{', '.join(ALL_MODEL_NAMES)}"
        )
    return list(dict.fromkeys(items))


def _check_params(name: str, params: dict[str, Any]) -> None:
    owner = ActionConditionedRegressor if name == "action_conditioned" else _PARAM_OWNER[name]
    allowed = set(owner().get_params(deep=False)) | set(_WRAPPER_PARAMS.get(name, ()))
    allowed.discard("random_state")  # the seed argument sets it
    if "random_state" in params:
        raise InvalidOption(f"model {name!r}: give the seed as seed=..., not random_state")
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidOption(
            f"model {name!r} has no parameter(s) {', '.join(unknown)}: "
            f"expected among {', '.join(sorted(allowed))}"
        )


def make_model(name: str, seed: int = 0, **params: Any) -> BaseEstimator:
    """Build the unfitted model ``name`` of the zoo, seeded.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES` (or :data:`EXTRA_MODEL_NAMES`).
    seed : int, default 0
        ``random_state`` of every random part (trees, boosting, MLP initialisation and its
        early-stopping split). Same seed and data, same predictions.
    **params
        Overrides of the core estimator's defaults, e.g. ``n_estimators=300`` for
        ``random_forest`` or ``alpha=10`` for ``ridge`` (see :func:`default_params`).

    Returns
    -------
    estimator
        A scikit-learn regressor whose ``fit(X, Y)`` takes finite multi-output targets (see
        :func:`fill_targets`) and whose ``predict(X)`` returns shape ``(n_states, n_actions)``.

    Raises
    ------
    InvalidOption
        If ``name`` is unknown or a parameter does not exist for that model.

    Examples
    --------
    >>> model = make_model("extra_trees", seed=1, n_estimators=10)
    >>> model.n_estimators, model.random_state
    (10, 1)
    """
    _check_name(name)
    _check_params(name, params)
    p = {**_DEFAULTS[name], **params}
    if name == "mean":
        return DummyRegressor(**p)
    if name == "ridge":
        return Pipeline([("scale", StandardScaler()), ("ridge", Ridge(**p))])
    if name == "random_forest":
        return RandomForestRegressor(random_state=seed, **p)
    if name == "extra_trees":
        return ExtraTreesRegressor(random_state=seed, **p)
    if name == "hist_gradient_boosting":
        n_jobs = p.pop("n_jobs")
        return PerActionRegressor(
            HistGradientBoostingRegressor(random_state=seed, **p), n_jobs=n_jobs
        )
    if name == "mlp":
        network = MLPRegressor(random_state=seed, **p)
        return TransformedTargetRegressor(
            regressor=Pipeline([("scale", StandardScaler()), ("mlp", network)]),
            transformer=StandardScaler(),
        )
    if name == "flow_boost":
        return FlowBoostRegressor(random_state=seed, **p)
    if name in TOPOLOGY_MODEL_NAMES:
        return TopologyFlowRegressor(**p)  # deterministic: no seed
    if name in LINE_MODEL_NAMES:
        return LineFlowRegressor(random_state=seed, **p)
    return ActionConditionedRegressor(random_state=seed, **p)


def serial_predictions(estimator: Any) -> Any:
    """Make a fitted model predict in one thread (``n_jobs=None``); return it.

    The forests fit on every core (``n_jobs=-1``), but their threaded ``predict`` adds the trees in
    completion order, so two calls can differ in the last bit (and flip a near tie between two
    actions); in one thread it is also faster on a few hundred states. :func:`train` calls this
    after ``fit``.
    """
    if "n_jobs" in estimator.get_params(deep=False):
        estimator.set_params(n_jobs=None)
    return estimator


class ActionConditionedRegressor(RegressorMixin, BaseEstimator):
    """One gradient-boosting model for all actions, the action being a categorical feature.

    ``fit(X, Y)`` expands the ``n_states x n_actions`` targets into ``n_states * n_actions`` rows
    ``[features of the state, action index]`` (the index is declared categorical, which is the
    one-hot encoding without its width) and fits one ``HistGradientBoostingRegressor``;
    ``predict`` expands the same way and reshapes. Actions share what they have in common (the
    effect of the injections), at the cost of training on ``n_actions`` times more rows.

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, max_bins, l2_regularization
        Those of :class:`~sklearn.ensemble.HistGradientBoostingRegressor`. The number of actions
        must stay below ``max_bins`` (its limit on the categories of a feature).
    random_state : int, optional
        Seed of the boosting.

    Attributes
    ----------
    estimator_ : HistGradientBoostingRegressor
        The fitted model on the expanded rows.
    n_outputs_ : int
        Number of actions.
    n_features_in_ : int
        Number of state features.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3)); Y = np.column_stack([X[:, 0], -X[:, 0]])
    >>> model = ActionConditionedRegressor(max_iter=20, random_state=0).fit(X, Y)
    >>> model.predict(X).shape
    (40, 2)
    """

    def __init__(
        self,
        max_iter: int = 300,
        learning_rate: float = 0.2,
        max_leaf_nodes: int = 31,
        max_bins: int = 255,
        l2_regularization: float = 0.0,
        random_state: int | None = None,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.max_bins = max_bins
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _expand(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        codes = np.tile(np.arange(self.n_outputs_, dtype=np.float64), n)
        return np.column_stack([np.repeat(X, self.n_outputs_, axis=0), codes])

    def fit(self, X: Any, y: Any) -> ActionConditionedRegressor:
        """Fit on states ``X`` (n_states, n_features) and targets ``y`` (n_states, n_actions)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        self.n_outputs_ = int(y.shape[1])
        if self.n_outputs_ > self.max_bins:
            raise ValueError(
                f"{self.n_outputs_} actions exceed max_bins={self.max_bins}, the most categories "
                "HistGradientBoostingRegressor accepts for the action feature"
            )
        self.estimator_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            max_bins=self.max_bins,
            l2_regularization=self.l2_regularization,
            categorical_features=[X.shape[1]],
            early_stopping=False,
            random_state=self.random_state,
        )
        self.estimator_.fit(self._expand(X), y.ravel())
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted max rho of every action, shape (n_states, n_actions)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        flat = self.estimator_.predict(self._expand(X))
        return np.asarray(flat, dtype=np.float64).reshape(X.shape[0], self.n_outputs_)
