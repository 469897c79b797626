"""Models "grid state → max rho after each action": the zoo, training, persistence, evaluation.

Public API::

    from gridoracle.models import MODEL_NAMES, make_model, train, load, evaluate, compare

    result = train("data/", "extra_trees", test_chronics=[2], out="models/extra_trees")
    model = load("models/extra_trees")          # a Predictor
    model.predict(result.test.X)                # DataFrame, one column per action name
    metrics = evaluate("models/extra_trees", "data/")   # writes models/extra_trees/metrics.json
    board = compare("data/", "all", test_chronics=[2]).leaderboard

See :mod:`gridoracle.models.zoo` for the models and the NaN-target policy, and
:mod:`gridoracle.models.evaluate` for the exact definition of every metric.

``gridoracle.models.train`` and ``gridoracle.models.evaluate`` name the functions; reach the
modules' other helpers with a from-import (``from gridoracle.models.evaluate import summary``).
"""

from __future__ import annotations

from gridoracle.models.evaluate import (
    CompareResult,
    compare,
    current_max_rho,
    decision_metrics,
    evaluate,
    overload_metrics,
    per_state_decisions,
    regression_metrics,
)
from gridoracle.models.persist import Predictor, load, save
from gridoracle.models.train import TrainResult, train
from gridoracle.models.zoo import (
    ALL_MODEL_NAMES,
    EXTRA_MODEL_NAMES,
    MODEL_NAMES,
    UNSAFE_RHO,
    ActionConditionedRegressor,
    PerActionRegressor,
    fill_targets,
    make_model,
)

__all__ = [
    "ALL_MODEL_NAMES",
    "EXTRA_MODEL_NAMES",
    "MODEL_NAMES",
    "UNSAFE_RHO",
    "ActionConditionedRegressor",
    "CompareResult",
    "PerActionRegressor",
    "Predictor",
    "TrainResult",
    "compare",
    "current_max_rho",
    "decision_metrics",
    "evaluate",
    "fill_targets",
    "load",
    "make_model",
    "overload_metrics",
    "per_state_decisions",
    "regression_metrics",
    "save",
    "train",
]
