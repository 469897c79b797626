"""Grid state → named feature vector.

The feature set (one row per state, column names are stable and documented in README.md):

======================  =========  ===========================================================
columns                 dtype      meaning
======================  =========  ===========================================================
``gen_p_<g>``           float64    active production of generator g (MW)
``gen_q_<g>``           float64    reactive production of generator g (MVAr)
``gen_v_<g>``           float64    voltage at generator g (kV)
``load_p_<l>``          float64    active consumption of load l (MW)
``load_q_<l>``          float64    reactive consumption of load l (MVAr)
``line_status_<i>``     int8       1 if line i is connected, else 0
``rho_<i>``             float64    loading of line i (flow / thermal limit) in this state
``topo_<k>``            int8       bus (1, 2, or -1 disconnected) of element k of the topology
                                   vector (grid2op's ``topo_vect`` order)
``time_of_day``         float64    fraction of the day elapsed, in [0, 1)
``time_of_day_sin/cos`` float64    the same on the unit circle (no jump at midnight)
``day_of_week``         int8       0 = Monday … 6 = Sunday
``fc_gen_p_<g>`` …      float64    with ``--horizon 1`` only: the next-step forecast of gen_p,
                                   load_p and load_q the target is computed with
======================  =========  ===========================================================

Ids are grid2op's element ids (``env.name_gen[g]`` names generator ``g``).

Datasets made with ``--states`` other than ``episode``, or with ``--topologies`` / ``--outages``,
also hold three metadata columns in their states files (read into ``Dataset.meta``, never into
``Dataset.X``: they are not model features):

======================  =========  ===========================================================
``state_source``        string     where the state comes from: ``episode``, ``chronic``,
                                   ``random-topology``, ``greedy``, with ``+topology`` (one or
                                   two catalogue actions applied) or ``+outage`` (one line out)
``base_actions``        string     names of the catalogue actions applied to reach the state,
                                   joined by ``+`` (``""`` for none)
``line_out``            int32      the line taken out (``-1`` for none)
======================  =========  ===========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

_BLOCKS: tuple[tuple[str, str, str, Any], ...] = (
    # (column prefix, observation attribute, count attribute, dtype)
    ("gen_p", "gen_p", "n_gen", np.float64),
    ("gen_q", "gen_q", "n_gen", np.float64),
    ("gen_v", "gen_v", "n_gen", np.float64),
    ("load_p", "load_p", "n_load", np.float64),
    ("load_q", "load_q", "n_load", np.float64),
    ("line_status", "line_status", "n_line", np.int8),
    ("rho", "rho", "n_line", np.float64),
    ("topo", "topo_vect", "dim_topo", np.int8),
)
_FORECAST_BLOCKS: tuple[tuple[str, int, str], ...] = (
    ("fc_gen_p", 0, "n_gen"),
    ("fc_load_p", 2, "n_load"),
    ("fc_load_q", 3, "n_load"),
)
TIME_COLUMNS = ("time_of_day", "time_of_day_sin", "time_of_day_cos", "day_of_week")


def feature_columns(obs_cls: Any, horizon: int = 0) -> list[str]:
    """Names of the feature columns for observations of class ``obs_cls``."""
    cols = [
        f"{prefix}_{i}"
        for prefix, _, count, _ in _BLOCKS
        for i in range(int(getattr(obs_cls, count)))
    ]
    cols += list(TIME_COLUMNS)
    if horizon == 1:
        cols += [
            f"{prefix}_{i}"
            for prefix, _, count in _FORECAST_BLOCKS
            for i in range(int(getattr(obs_cls, count)))
        ]
    return cols


def features_from_arrays(
    obs_cls: Any,
    blocks: dict[str, np.ndarray],
    minutes: np.ndarray,
    day_of_week: np.ndarray,
    forecasts: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The same rows as :func:`features_from_observations`, from arrays of states.

    Parameters
    ----------
    obs_cls : grid2op observation class
        Gives the element counts (column names).
    blocks : dict
        ``gen_p``, ``gen_q``, ``gen_v``, ``load_p``, ``load_q``, ``line_status``, ``rho`` and
        ``topo_vect`` arrays of shape ``(n, count)``: what each state's observation would hold.
    minutes, day_of_week : ndarray, shape (n,)
        Minutes since midnight and day of the week (0 = Monday).
    forecasts : dict, optional
        ``fc_gen_p``, ``fc_load_p``, ``fc_load_q`` (horizon 1 only).
    """
    columns: dict[str, np.ndarray] = {}
    for prefix, attr, _count, dtype in _BLOCKS:
        block = np.asarray(blocks[attr], dtype=np.float64)
        for i in range(block.shape[1]):
            columns[f"{prefix}_{i}"] = block[:, i].astype(dtype)
    frac = np.asarray(minutes, dtype=np.float64) / 1440.0
    columns["time_of_day"] = frac
    columns["time_of_day_sin"] = np.sin(2 * np.pi * frac)
    columns["time_of_day_cos"] = np.cos(2 * np.pi * frac)
    columns["day_of_week"] = np.asarray(day_of_week, dtype=np.int8)
    horizon = 0
    if forecasts is not None:
        horizon = 1
        for prefix, _pos, _count in _FORECAST_BLOCKS:
            block = np.asarray(forecasts[prefix], dtype=np.float64)
            for i in range(block.shape[1]):
                columns[f"{prefix}_{i}"] = block[:, i]
    frame = pd.DataFrame(columns)
    if list(frame.columns) != feature_columns(obs_cls, horizon):  # pragma: no cover
        raise AssertionError("feature columns out of sync with feature_columns()")
    return frame


def features_from_observations(observations: Sequence[Any], horizon: int = 0) -> pd.DataFrame:
    """One row of named features per observation (see the module docstring for the columns).

    Examples
    --------
    >>> X = features_from_observations([env.reset()])  # doctest: +SKIP
    >>> X.filter(like="rho_").shape[1] == env.n_line  # doctest: +SKIP
    True
    """
    if len(observations) == 0:
        raise ValueError("no observation to compute features from")
    cls = type(observations[0])
    columns: dict[str, np.ndarray] = {}
    for prefix, attr, _count, dtype in _BLOCKS:
        block = np.array([getattr(o, attr) for o in observations], dtype=np.float64)
        for i in range(block.shape[1]):
            columns[f"{prefix}_{i}"] = block[:, i].astype(dtype)
    minutes = np.array([o.hour_of_day * 60 + o.minute_of_hour for o in observations], np.float64)
    frac = minutes / 1440.0
    columns["time_of_day"] = frac
    columns["time_of_day_sin"] = np.sin(2 * np.pi * frac)
    columns["time_of_day_cos"] = np.cos(2 * np.pi * frac)
    columns["day_of_week"] = np.array([o.day_of_week for o in observations], dtype=np.int8)
    if horizon == 1:
        forecasts = [o.get_forecasted_inj(1) for o in observations]
        for prefix, pos, _count in _FORECAST_BLOCKS:
            current = "gen_p" if prefix == "fc_gen_p" else prefix[3:]
            now = np.array([getattr(o, current) for o in observations], dtype=np.float64)
            block = np.array([f[pos] for f in forecasts], dtype=np.float64)
            block = np.where(np.isfinite(block), block, now)  # no forecast: simulate keeps it
            for i in range(block.shape[1]):
                columns[f"{prefix}_{i}"] = block[:, i]
    frame = pd.DataFrame(columns)
    expected = feature_columns(cls, horizon)
    if list(frame.columns) != expected:  # pragma: no cover - guards the two lists above
        raise AssertionError("feature columns out of sync with feature_columns()")
    return frame
