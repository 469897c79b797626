"""Models "grid state → max rho after each action": the zoo, training, persistence, evaluation.

Public API::

    from gridoracle.models import MODEL_NAMES, make_model, train, load, evaluate

    result = train("data/", "extra_trees", test_chronics=[2], out="models/extra_trees")
    model = load("models/extra_trees")          # a Predictor
    model.predict(result.test.X)                # DataFrame, one column per action name
    metrics = evaluate("models/extra_trees", "data/")   # writes models/extra_trees/metrics.json

The zoo trained and evaluated on one split, with its leaderboard, is
:func:`gridoracle.pipelines.models.compare`.

See :mod:`gridoracle.models.zoo` for the models and the NaN-target policy,
:mod:`gridoracle.models.metrics` for the exact definition of every metric and
:mod:`gridoracle.models.leaderboard` for the leaderboard's rows and files.

``gridoracle.models.train`` and ``gridoracle.models.evaluate`` name the functions; reach the
modules' other helpers with a from-import (``from gridoracle.models.metrics import summary``).
"""

from __future__ import annotations

from gridoracle.models.evaluate import evaluate
from gridoracle.models.metrics import (
    current_max_rho,
    decision_metrics,
    overload_metrics,
    per_state_decisions,
    regression_metrics,
)
from gridoracle.models.persist import Predictor, load, save
from gridoracle.models.train import TrainResult, train
from gridoracle.models.zoo import (
    ALL_MODEL_NAMES,
    MODEL_NAMES,
    UNSAFE_RHO,
    ActionConditionedRegressor,
    fill_targets,
    make_model,
    parse_model_list,
)

__all__ = [
    "ALL_MODEL_NAMES",
    "MODEL_NAMES",
    "UNSAFE_RHO",
    "ActionConditionedRegressor",
    "Predictor",
    "TrainResult",
    "current_max_rho",
    "decision_metrics",
    "evaluate",
    "fill_targets",
    "load",
    "make_model",
    "overload_metrics",
    "parse_model_list",
    "per_state_decisions",
    "regression_metrics",
    "save",
    "train",
]
