"""A model's feature row from one observation, with NumPy only: :class:`FeatureRow`.

The columns are those of :func:`gridoracle.dataset.features.features_from_observations`
(``gen_p_<g>`` ... ``topo_<k>``, the time columns, the ``fc_*`` forecasts at horizon 1), taken
in the model's feature order. The map from each model column to its place in the observation is
computed once; a step then costs a few array copies and one fancy index (no pandas). The tests
check the row against ``features_from_observations`` reindexed to the model's features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gridoracle.dataset.features import TIME_COLUMNS, feature_columns
from gridoracle.errors import ModelMismatch

__all__ = ["FeatureRow"]

# column prefix -> observation attribute (the blocks of gridoracle.dataset.features)
_ATTRIBUTES = {
    "gen_p": "gen_p",
    "gen_q": "gen_q",
    "gen_v": "gen_v",
    "load_p": "load_p",
    "load_q": "load_q",
    "line_status": "line_status",
    "rho": "rho",
    "topo": "topo_vect",
}
# forecast prefix -> (position in obs.get_forecasted_inj(1), attribute used where it is NaN)
_FORECASTS = {"fc_gen_p": (0, "gen_p"), "fc_load_p": (2, "load_p"), "fc_load_q": (3, "load_q")}


def _prefix(column: str) -> str:
    return column.rpartition("_")[0]


class FeatureRow:
    """Builds the ``(1, n_features)`` float64 row a model takes from a grid2op observation.

    Parameters
    ----------
    features : sequence of str
        The model's feature names, in the order its estimator takes them.
    space : grid2op ActionSpace, observation class or environment
        Gives the grid's element counts (the columns of its observations).
    horizon : {0, 1}
        1 adds the next-step forecasts (``fc_*`` columns), as the dataset did.
    label : str
        How errors name the model.

    Raises
    ------
    ModelMismatch
        A feature the observations of ``space`` do not have (a model of another grid).

    Examples
    --------
    >>> row = FeatureRow(model.feature_names, env.action_space, horizon=0)  # doctest: +SKIP
    >>> model.estimator.predict(row(obs)).shape  # doctest: +SKIP
    (1, 100)
    """

    def __init__(
        self, features: Sequence[str], space: Any, horizon: int = 0, label: str = "the model"
    ) -> None:
        if horizon not in (0, 1):
            raise ModelMismatch(f"{label}: horizon {horizon!r} is not 0 or 1")
        columns = feature_columns(space, horizon)
        position = {c: i for i, c in enumerate(columns)}
        missing = [f for f in features if f not in position]
        if missing:
            counts = ", ".join(
                f"{getattr(space, n)} {w}"
                for n, w in (("n_line", "lines"), ("n_gen", "generators"), ("dim_topo", "elements"))
            )
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ModelMismatch(
                f"{label} was trained on another grid or horizon: {len(missing)} of its features "
                f"({shown}) are not features of this grid ({counts}) at horizon {horizon}"
            )
        self.features = [str(f) for f in features]
        self.horizon = int(horizon)
        self._n = len(columns)
        self._index = np.array([position[f] for f in self.features], dtype=np.intp)
        self._blocks: list[tuple[int, int, str]] = []
        self._forecasts: list[tuple[int, int, int, str]] = []
        start = 0
        while start < len(columns):
            prefix = _prefix(columns[start]) if columns[start] not in TIME_COLUMNS else ""
            end = start
            while (
                end < len(columns)
                and columns[end] not in TIME_COLUMNS
                and (_prefix(columns[end]) == prefix)
            ):
                end += 1
            if prefix == "":  # the time columns
                self._time = start
                start += len(TIME_COLUMNS)
                continue
            if prefix in _ATTRIBUTES:
                self._blocks.append((start, end, _ATTRIBUTES[prefix]))
            elif prefix in _FORECASTS:
                pos, now = _FORECASTS[prefix]
                self._forecasts.append((start, end, pos, now))
            else:  # pragma: no cover - guards the maps above against the dataset's columns
                raise AssertionError(f"feature block {prefix!r} has no observation attribute")
            start = end

    def __call__(self, obs: Any) -> np.ndarray:
        """The model's features of ``obs``, shape ``(1, n_features)``, float64."""
        full = np.empty(self._n, dtype=np.float64)
        for start, end, attr in self._blocks:
            full[start:end] = getattr(obs, attr)
        frac = (obs.hour_of_day * 60 + obs.minute_of_hour) / 1440.0
        t = self._time
        full[t] = frac
        full[t + 1] = np.sin(2 * np.pi * frac)
        full[t + 2] = np.cos(2 * np.pi * frac)
        full[t + 3] = obs.day_of_week
        if self._forecasts:
            forecast = obs.get_forecasted_inj(1)
            for start, end, pos, now in self._forecasts:
                block = np.asarray(forecast[pos], dtype=np.float64)
                full[start:end] = np.where(np.isfinite(block), block, getattr(obs, now))
        return full[self._index].reshape(1, -1)
